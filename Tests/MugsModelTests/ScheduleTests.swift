import Foundation
import Testing
@testable import MugsModel

/// Schedules against NumPy's `cosine_scheduler` tables (sail-sg/mugs src/optimizer.py), printed as hex by
/// `~/mugs-ref/bin/python` for epochs 5, 7 steps per epoch, 2 warm-up epochs, batch 64.
@Suite struct ScheduleTests {
    static let lr: [Double] = [
        0x0.0p+0, 0x1.021c6b811646ap-16, 0x1.021c6b811646ap-15, 0x1.832aa141a169fp-15, 0x1.021c6b811646ap-14,
        0x1.42a386615bd84p-14, 0x1.832aa141a169fp-14, 0x1.c3b1bc21e6fbap-14, 0x1.021c6b811646ap-13,
        0x1.225ff8f1390f7p-13, 0x1.42a386615bd84p-13, 0x1.62e713d17ea12p-13, 0x1.832aa141a169fp-13,
        0x1.a36e2eb1c432dp-13, 0x1.a36e2eb1c432dp-13, 0x1.a1198a4758f08p-13, 0x1.9a28f100062cap-13,
        0x1.8ec4128bdb433p-13, 0x1.7f2c175fab0e2p-13, 0x1.6bba2c17e7dd2p-13, 0x1.54dd83848e358p-13,
        0x1.3b18dac258d59p-13, 0x1.1eff8d95b8335p-13, 0x1.01324bbb0bc7dp-13, 0x1.c4b703fe3b5abp-14,
        0x1.8657174d7a867p-14, 0x1.48a983d59e517p-14, 0x1.0d0f0020457a6p-14, 0x1.a9b8cb8e086c1p-15,
        0x1.42a6288532ec4p-15, 0x1.ce670c6f989afp-16, 0x1.32d7b2317f12dp-16, 0x1.6c2fb19ffad54p-17,
        0x1.6bc394ba987c0p-18, 0x1.1b60d7a07fff2p-19,
    ]
    static let wd: [Double] = [
        0x1.47ae147ae147cp-5, 0x1.4a517b3c809ecp-5, 0x1.52363f64de980p-5, 0x1.5f4c1bd3d8d08p-5, 0x1.717817eea9998p-5,
        0x1.8894bf37693ecp-5, 0x1.a4726e807c148p-5, 0x1.c4d7b61ccdb54p-5, 0x1.e981d04277948p-5, 0x1.09129555e802ap-4,
        0x1.1f37012d9a53cp-4, 0x1.3700882040e9fp-4, 0x1.503e22ae2e6f6p-4, 0x1.6abbca6ec4748p-4, 0x1.8642e54bd77e7p-4,
        0x1.a29ab60cc6fc3p-4, 0x1.bf88d14950d22p-4, 0x1.dcd195d313b9fp-4, 0x1.fa38a79d901d1p-4, 0x1.0bc0b613a9828p-3,
        0x1.1a37c3b1ee6d8p-3, 0x1.2863ac12662c5p-3, 0x1.36273980efb14p-3, 0x1.43660d613ab3ep-3, 0x1.5004daa831769p-3,
        0x1.5be99e2184c1ap-3, 0x1.66fbd40d5dea4p-3, 0x1.7124aaa7b4066p-3, 0x1.7a4f31311e7e4p-3, 0x1.8268831832e67p-3,
        0x1.895feeea779bep-3, 0x1.8f2718bca7853p-3, 0x1.93b217c35bb77p-3, 0x1.96f78edf1a459p-3, 0x1.98f0bfe931c3ep-3,
    ]
    static let momentum: [Double] = [
        0x1.fdf3b645a1cacp-1, 0x1.fdf4c46ebc0a8p-1, 0x1.fdf7ecbd32968p-1, 0x1.fdfd28aef8943p-1, 0x1.fe046d7a36814p-1,
        0x1.fe0dac2386cdfp-1, 0x1.fe18d19cd73bep-1, 0x1.fe25c6ecaf5c8p-1, 0x1.fe34715d8b3a1p-1, 0x1.fe44b2b4e890ap-1,
        0x1.fe566971951f5p-1, 0x1.fe697110bda49p-1, 0x1.fe7da2592f2f6p-1, 0x1.fe92d3ac2fa76p-1, 0x1.fea8d95b46e9dp-1,
        0x1.febf860247a97p-1, 0x1.fed6aae4de7e2p-1, 0x1.feee184ee64d4p-1, 0x1.ff059df6bb7d8p-1, 0x1.ff1d0b60c34cap-1,
        0x1.ff3430435a215p-1, 0x1.ff4adcea5ae0fp-1, 0x1.ff60e29972236p-1, 0x1.ff7613ec729b6p-1, 0x1.ff8a4534e4263p-1,
        0x1.ff9d4cd40cab7p-1, 0x1.ffaf0390b93a2p-1, 0x1.ffbf44e81690bp-1, 0x1.ffcdef58f26e4p-1, 0x1.ffdae4a8ca8eep-1,
        0x1.ffe60a221afcdp-1, 0x1.ffef48cb6b498p-1, 0x1.fff68d96a9369p-1, 0x1.fffbc9886f344p-1, 0x1.fffef1d6e5c04p-1,
    ]
    /// np.linspace(0.04, 0.07, 30) then 0.07.
    static let teacherTemp: [Double] = [
        0x1.47ae147ae147bp-5, 0x1.50278c2e9c126p-5, 0x1.58a103e256dd1p-5, 0x1.611a7b9611a7cp-5, 0x1.6993f349cc727p-5,
        0x1.720d6afd873d2p-5, 0x1.7a86e2b14207dp-5, 0x1.83005a64fcd28p-5, 0x1.8b79d218b79d2p-5, 0x1.93f349cc7267ep-5,
        0x1.9c6cc1802d328p-5, 0x1.a4e63933e7fd3p-5, 0x1.ad5fb0e7a2c7ep-5, 0x1.b5d9289b5d929p-5, 0x1.be52a04f185d4p-5,
        0x1.c6cc1802d327fp-5, 0x1.cf458fb68df2ap-5, 0x1.d7bf076a48bd5p-5, 0x1.e0387f1e03880p-5, 0x1.e8b1f6d1be52bp-5,
        0x1.f12b6e85791d6p-5, 0x1.f9a4e63933e80p-5, 0x1.010f2ef677596p-4, 0x1.054bead054bebp-4, 0x1.0988a6aa32241p-4,
        0x1.0dc562840f896p-4, 0x1.12021e5deceecp-4, 0x1.163eda37ca541p-4, 0x1.1a7b9611a7b96p-4, 0x1.1eb851eb851ecp-4,
        0x1.1eb851eb851ecp-4,
    ]

    /// Distance in units in the last place between two doubles of the same sign.
    static func ulps(_ a: Double, _ b: Double) -> Int64 {
        if a == b { return 0 }
        return abs(Int64(bitPattern: a.bitPattern) - Int64(bitPattern: b.bitPattern))
    }

    /// Compares in ulps of the schedule's largest value: near the end of a cosine, `1 + cos` cancels, so
    /// NumPy's own libm differs from any other cos by more ulps of the (tiny) value than of the scale.
    static func check(_ name: String, _ f: (Int) -> Double, _ expected: [Double], maxUlps: Double) {
        let scale = expected.map(abs).max()!.ulp
        var worst = 0.0
        for (i, e) in expected.enumerated() { worst = max(worst, abs(f(i) - e) / scale) }
        print("schedule \(name): max \(worst) ulp (of its largest value) from NumPy over \(expected.count) steps")
        #expect(worst <= maxUlps, "\(name): \(worst) ulp")
    }

    @Test func matchesNumPyCosineScheduler() {
        var config = MugsConfig()
        config.epochs = 5
        config.warmup_epochs = 2
        config.batch_size = 64
        let s = Schedules(config: config, stepsPerEpoch: 7)
        Self.check("lr", s.learningRate(step:), Self.lr, maxUlps: 4)
        Self.check("wd", s.weightDecay(step:), Self.wd, maxUlps: 4)
        Self.check("momentum", s.teacherMomentum(step:), Self.momentum, maxUlps: 4)
        // Past the end: the last entry, never an out-of-range read.
        #expect(s.learningRate(step: 1000) == s.learningRate(step: 34))
        #expect(s.epoch(ofStep: 13) == 1 && s.epoch(ofStep: 14) == 2)
    }

    @Test func teacherTemperatureIsLinspaceOverEpochs() {
        var config = MugsConfig()
        config.group_warmup_teacher_temp = 0.04
        config.group_teacher_temp = 0.07
        config.group_warmup_teacher_temp_epochs = 30
        let s = Schedules(config: config, stepsPerEpoch: 3)
        Self.check("teacher temp", s.teacherTemperature(epoch:), Self.teacherTemp, maxUlps: 0)
        #expect(s.teacherTemperature(epoch: 99) == 0.07)
        config.group_warmup_teacher_temp_epochs = 0
        #expect(Schedules(config: config, stepsPerEpoch: 3).teacherTemperature(epoch: 0) == 0.07)
    }

    @Test func deterministicCosineIsAccurate() {
        var worst = 0.0
        for i in 0 ... 10_000 {
            let x = Double.pi * Double(i) / 10_000
            worst = max(worst, abs(DeterministicMath.cos(x) - Foundation.cos(x)))
        }
        print("DeterministicMath.cos: max abs difference from libm on [0, π]: \(worst)")
        #expect(worst < 5e-16)
        #expect(DeterministicMath.pow(0.999, 0) == 1)
        for n in [1, 7, 1000, 123_457] {
            let relative = abs(DeterministicMath.pow(0.999, n) / Foundation.pow(0.999, Double(n)) - 1)
            #expect(relative < Double(n) * 0x1p-52 + 1e-15, "0.999^\(n): relative error \(relative)")
        }
        #expect(DeterministicMath.pow(0.9, 1) == 0.9)
    }
}
