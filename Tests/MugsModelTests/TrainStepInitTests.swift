import Testing
@testable import MugsModel

/// `MugsNetwork.initialize`: the reference's initialisation distributions, deterministic in the seed.
@Suite struct TrainStepInitTests {
    @Test func initialisationFollowsTheReference() throws {
        var c = TrainStepTests.reducedConfig()
        c.norm_last_layer = false
        let net = try MugsNetwork(config: c, student: true)
        let a = ParameterBuffer(layout: net.layout), b = ParameterBuffer(layout: net.layout)
        net.initialize(a, seed: 5)
        net.initialize(b, seed: 5)
        #expect(Array(a.all) == Array(b.all))
        func stats(_ n: String) -> (mean: Double, std: Double, maxAbs: Float) {
            let v = a[n]
            let m = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
            let s = (v.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / Double(v.count)).squareRoot()
            return (m, s, v.map(abs).max()!)
        }
        let qkv = stats("blocks.1.attn.qkv.weight")                     // 3072 values, trunc normal std 0.02
        #expect(abs(qkv.std - 0.02) < 0.002 && abs(qkv.mean) < 0.002)
        #expect(a["blocks.0.norm1.weight"].allSatisfy { $0 == 1 } && a["norm.bias"].allSatisfy { $0 == 0 })
        #expect(a["group_head.projector.2.bias"].allSatisfy { $0 == 0 })
        #expect(a["group_head.last_layer.weight_g"].allSatisfy { $0 == 1 })
        let pred = stats("instance_head.predictor.0.weight")             // U(±1/√16)
        #expect(pred.maxAbs <= 0.25 && pred.std > 0.25 / 3.0.squareRoot() * 0.8)
        let conv = stats("patch_embed.proj.weight")                      // U(±1/√48)
        #expect(conv.maxAbs <= Float(1 / 48.0.squareRoot()) && conv.std > 0.05)
        #expect(stats("pos_embed").std < 0.025 && stats("cls_token").maxAbs < 0.1)
        #expect(a.all.reduce(0) { $0 + ($1.isFinite ? 0 : 1) } == 0)
    }
}
