import Sampling
/// The training schedules as pure functions of the global step (or epoch), so a resumed or redone step gets
/// exactly the values it had the first time, on every machine.
///
/// They mirror sail-sg/mugs `src/optimizer.py` `cosine_scheduler(base, final, epochs, niter_per_ep,
/// warmup_epochs, start_warmup_value)`, which builds a table
///
///     warm-up  (it < W·n):   np.linspace(start, base, W·n)[it]
///     cosine   (it ≥ W·n):   final + 0.5·(base − final)·(1 + cos(π·i / N)),  i = it − W·n,  N = E·n − W·n
///
/// and `src/loss.py`'s teacher-temperature table `linspace(warm, temp, We)` per EPOCH, then `temp`. Steps past
/// the end of training take the last entry (the reference would index out of range).
///
/// Determinism across CPUs: libm's `cos` and `pow` are picked per CPU (glibc selects FMA variants at load
/// time), so they are not used here: `DeterministicMath` evaluates both with plain IEEE arithmetic in a fixed
/// order. The values agree with NumPy to a few ulps of the schedule's scale (tests/ScheduleTests).
public struct Schedules: Sendable, Equatable {
    public let config: MugsConfig
    /// Optimisation steps per epoch (the reference's `len(data_loader)`: ⌊dataset size / batch⌋).
    public let stepsPerEpoch: Int

    public init(config: MugsConfig, stepsPerEpoch: Int) {
        precondition(stepsPerEpoch > 0, "stepsPerEpoch must be positive")
        self.config = config
        self.stepsPerEpoch = stepsPerEpoch
    }

    /// Peak learning rate: `lr · batch_size / 256` (linear scaling rule; Python's left-to-right order).
    public var peakLearningRate: Double { config.lr * Double(config.batch_size) / 256.0 }

    /// Learning rate of the base parameter groups at global step `step` (warm-up from 0, then cosine to
    /// `min_lr`). The patch-embedding groups use this × `patch_embed_lr_mult`.
    public func learningRate(step: Int) -> Double {
        Schedules.cosine(base: peakLearningRate, final: config.min_lr, epochs: config.epochs,
                         stepsPerEpoch: stepsPerEpoch, warmupEpochs: config.warmup_epochs, step: step)
    }

    /// Weight decay at `step`: cosine from `weight_decay` to `weight_decay_end`, no warm-up.
    public func weightDecay(step: Int) -> Double {
        Schedules.cosine(base: config.weight_decay, final: config.weight_decay_end, epochs: config.epochs,
                         stepsPerEpoch: stepsPerEpoch, warmupEpochs: 0, step: step)
    }

    /// Teacher EMA momentum at `step`: cosine from `momentum_teacher` to 1.
    public func teacherMomentum(step: Int) -> Double {
        Schedules.cosine(base: config.momentum_teacher, final: 1, epochs: config.epochs,
                         stepsPerEpoch: stepsPerEpoch, warmupEpochs: 0, step: step)
    }

    /// Teacher temperature of the clustering loss in `epoch`: linear over the warm-up epochs (end point
    /// included, as `np.linspace` does), then constant.
    public func teacherTemperature(epoch: Int) -> Double {
        let W = config.group_warmup_teacher_temp_epochs
        if epoch < W {
            return Schedules.linspace(config.group_warmup_teacher_temp, config.group_teacher_temp, count: W,
                                      index: max(epoch, 0))
        }
        return config.group_teacher_temp
    }

    /// The epoch a global step belongs to.
    public func epoch(ofStep step: Int) -> Int { EpochPlan.epoch(ofStep: step, stepsPerEpoch: stepsPerEpoch) }

    /// Entry `step` of `cosine_scheduler(base, final, epochs, stepsPerEpoch, warmupEpochs, 0)`.
    public static func cosine(base: Double, final: Double, epochs: Int, stepsPerEpoch: Int, warmupEpochs: Int,
                              startWarmup: Double = 0, step: Int) -> Double {
        let total = epochs * stepsPerEpoch
        let warmup = warmupEpochs * stepsPerEpoch
        let it = min(max(step, 0), total - 1)
        if it < warmup { return linspace(startWarmup, base, count: warmup, index: it) }
        let i = Double(it - warmup), n = Double(total - warmup)
        return final + 0.5 * (base - final) * (1 + DeterministicMath.cos(Double.pi * i / n))
    }

    /// `np.linspace(start, stop, count)[index]`, computed the way NumPy does: `index · step + start` with
    /// `step = (stop − start)/(count − 1)`, and the last entry exactly `stop`.
    public static func linspace(_ start: Double, _ stop: Double, count: Int, index: Int) -> Double {
        if count <= 1 { return start }
        if index == count - 1 { return stop }
        let div = Double(count - 1), delta = stop - start
        let step = delta / div
        if step == 0 { return Double(index) / div * delta + start }
        return Double(index) * step + start
    }
}

/// `cos` and integer powers from basic IEEE operations only (no libm, no FMA), so every CPU gets the same bits.
public enum DeterministicMath {
    /// cos(x) for x in [0, π] (the schedules' range), within ~2 ulp. Other x are reduced by symmetry and
    /// periodicity with a plain `remainder`-free loop, fine for the small arguments used here.
    public static func cos(_ x: Double) -> Double {
        var y = abs(x)
        let twoPi = 2 * Double.pi
        while y > twoPi { y -= twoPi }
        if y > Double.pi { y = twoPi - y }
        if y > Double.pi / 2 { return -cosCore(Double.pi - y) }
        return cosCore(y)
    }

    /// cos on [0, π/2]: Taylor series of cos below π/4, of sin(π/2 − y) above; 11 terms each (the first
    /// omitted term is < 1e-20), evaluated by Horner's rule in a fixed order.
    private static func cosCore(_ y: Double) -> Double {
        if y > Double.pi / 4 {
            let s = Double.pi / 2 - y, s2 = s * s
            var acc = 0.0
            for k in stride(from: 10, through: 1, by: -1) { acc = 1 - s2 / Double((2 * k) * (2 * k + 1)) * acc }
            return s * acc
        }
        let y2 = y * y
        var acc = 0.0
        for k in stride(from: 10, through: 1, by: -1) { acc = 1 - y2 / Double((2 * k - 1) * (2 * k)) * acc }
        return acc
    }

    /// base^n for n ≥ 0 by repeated squaring. Each squaring doubles the relative error, so it is within
    /// ~n·2⁻⁵² relative (1e-11 at a million steps) — far below the Float32 resolution of the AdamW update
    /// that uses it for bias correction.
    public static func pow(_ base: Double, _ n: Int) -> Double {
        var result = 1.0, b = base, e = max(n, 0)
        while e > 0 {
            if e & 1 == 1 { result = result * b }
            b = b * b
            e >>= 1
        }
        return result
    }
}
