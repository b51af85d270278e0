import Foundation
import SafeTensors
import Sampling
import Testing
@testable import MugsModel

/// The state fixture written by tools/make_state_fixtures.py (torch.optim.AdamW with the reference's parameter
/// groups, clip_gradients, cancel_gradients_last_layer, teacher EMA, centre EMA).
struct StateApplyFixture {
    let file: SafeTensorsFile
    let specs: [ParameterSpec]
    let frozen: Set<String>
    let teacherNames: [String]
    let steps: Int

    static func path(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)").path
    }

    init() throws {
        file = try SafeTensors.read(path: Self.path("state_apply.safetensors"))
        let m = file.metadata
        let rawSpecs = try JSONSerialization.jsonObject(with: Data(m["specs"]!.utf8)) as! [[Any]]
        specs = rawSpecs.map { ParameterSpec(name: $0[0] as! String, shape: $0[1] as! [Int]) }
        frozen = Set(try JSONSerialization.jsonObject(with: Data(m["frozen"]!.utf8)) as! [String])
        teacherNames = try JSONSerialization.jsonObject(with: Data(m["teacher"]!.utf8)) as! [String]
        steps = Int(m["steps"]!)!
    }

    func double(_ key: String) -> Double { Double(file.metadata[key]!)! }
    func int(_ key: String) -> Int { Int(file.metadata[key]!)! }

    var studentLayout: ParameterLayout {
        var l = ParameterLayout()
        for s in specs { l.add(s.name, s.shape) }
        return l
    }

    var teacherLayout: ParameterLayout {
        var l = ParameterLayout()
        for s in specs where teacherNames.contains(s.name) { l.add(s.name, s.shape) }
        return l
    }

    /// Fills `buffer` from `prefix + name` tensors.
    func load(_ buffer: ParameterBuffer, prefix: String) throws { try file.load(into: buffer, prefix: prefix) }

    func tensor(_ name: String) throws -> [Float] { try file.tensor(name).data }
}

/// Largest |a − b| and the tolerance it is compared against, printed for the record.
func expectClose(_ a: UnsafeBufferPointer<Float>, _ b: [Float], tol: Float, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, "\(what): \(a.count) vs \(b.count) values", sourceLocation: sourceLocation)
    var worst: Float = 0
    for j in 0 ..< min(a.count, b.count) { worst = max(worst, abs(a[j] - b[j])) }
    #expect(worst <= tol, "\(what): max |diff| \(worst) > \(tol)", sourceLocation: sourceLocation)
}

@Suite struct AdamWTests {
    @Test func parameterGroupsFollowTheReference() {
        var layout = ParameterLayout()
        layout.add("backbone.cls_token", [1, 1, 8])
        layout.add("backbone.patch_embed.proj.weight", [8, 3, 2, 2])
        layout.add("backbone.patch_embed.proj.bias", [8])
        layout.add("backbone.norm.weight", [8])
        layout.add("backbone.blocks.0.attn.qkv.bias", [24])
        layout.add("group_head.last_layer.weight_g", [12, 1])
        layout.add("group_head.last_layer.weight_v", [12, 16])
        let g = ParameterGroups(layout: layout, frozenNames: ["group_head.last_layer.weight_g"])
        #expect((0 ..< 7).map(g.groupName) == ["normal_params", "patch_embed", "patch_embed_no_wd", "no_wd", "no_wd",
                                               nil, "normal_params"])
        #expect(g.hasGradient(6, epoch: 0, freezeLastLayerEpochs: 1) == false)
        #expect(g.hasGradient(6, epoch: 1, freezeLastLayerEpochs: 1) == true)
        #expect(g.hasGradient(5, epoch: 5, freezeLastLayerEpochs: 1) == false)
        let trainableG = ParameterGroups(layout: layout)
        #expect(trainableG.groupName(5) == "normal_params") // weight_g is [P, 1]: 2-D, decayed when trained
    }

    /// Clipping + freeze + AdamW over four steps against torch.optim.AdamW, tensor by tensor.
    @Test func matchesTorchAdamWWithClippingAndFreeze() throws {
        let fx = try StateApplyFixture()
        let layout = fx.studentLayout
        let groups = ParameterGroups(layout: layout, frozenNames: fx.frozen)
        let params = ParameterBuffer(layout: layout), grads = ParameterBuffer(layout: layout)
        try fx.load(params, prefix: "init.student.")
        let adam = AdamW(layout: layout)
        for k in 0 ..< fx.steps {
            let epoch = fx.int("step\(k).epoch")
            let has = { (i: Int) in groups.hasGradient(i, epoch: epoch, freezeLastLayerEpochs: fx.int("freeze_last_layer")) }
            grads.zero()
            for (i, spec) in layout.specs.enumerated() where groups.rules[i].trainable {
                let g = try fx.tensor("step\(k).grad.\(spec.name)")
                for j in 0 ..< g.count { grads[spec.name][j] = g[j] }
            }
            // The reference clips every tensor that has a gradient, then drops the frozen last layer's.
            let norms = Clipping.clip(grads, clip: fx.double("clip_grad")) { groups.rules[$0].trainable }
            let torchNorms = try JSONSerialization.jsonObject(with: Data(fx.file.metadata["step\(k).norms"]!.utf8))
                as! [Double]
            let ours = layout.specs.indices.filter { groups.rules[$0].trainable }.map { Double(norms[$0]) }
            #expect(zip(ours, torchNorms).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, $1) }, "norms \(ours) vs \(torchNorms)")
            adam.step(params: params, grads: grads, groups: groups, lr: fx.double("step\(k).lr"),
                      weightDecay: fx.double("step\(k).wd"), patchEmbedLrMult: fx.double("patch_embed_lr_mult"),
                      hasGradient: has)
            for (i, spec) in layout.specs.enumerated() {
                let name = spec.name
                expectClose(UnsafeBufferPointer(params[name]), try fx.tensor("step\(k).student.\(name)"), tol: 2e-6,
                            "step \(k) param \(name)")
                if fx.file.contains("step\(k).exp_avg.\(name)") {
                    expectClose(UnsafeBufferPointer(adam.expAvg[name]), try fx.tensor("step\(k).exp_avg.\(name)"),
                                tol: 1e-6, "step \(k) exp_avg \(name)")
                    expectClose(UnsafeBufferPointer(adam.expAvgSq[name]),
                                try fx.tensor("step\(k).exp_avg_sq.\(name)"), tol: 1e-6, "step \(k) exp_avg_sq \(name)")
                    #expect(Double(adam.steps[i]) == fx.double("step\(k).adam_step.\(name)"), "step count \(name)")
                } else {
                    #expect(adam.steps[i] == 0, "\(name) has no torch state yet but \(adam.steps[i]) steps here")
                }
            }
        }
    }

    /// The same inputs give the same bits (what keeps replicas identical), with any thread count: AdamW and the
    /// EMA are elementwise, so splitting them over threads cannot change a bit.
    @Test func updateIsBitwiseReproducibleAcrossThreadCounts() throws {
        let n = 100_000
        var layout = ParameterLayout()
        layout.add("w", [n])
        let groups = ParameterGroups(layout: layout)
        var results: [[UInt32]] = []
        for threads in [1, 1, 2, 3] {
            let p = ParameterBuffer(layout: layout), g = ParameterBuffer(layout: layout)
            let t = ParameterBuffer(layout: layout)
            var rng = SampleRNG(key: [7])
            for j in 0 ..< n { p.base[j] = Float(rng.normal()); g.base[j] = Float(rng.normal()) * 10 }
            let adam = AdamW(layout: layout), pool = ComputePool(threads: threads)
            let ema = try TeacherEMA(teacher: layout, student: layout)
            for _ in 0 ..< 3 {
                Clipping.clip(g, clip: 3) { _ in true }
                adam.step(params: p, grads: g, groups: groups, lr: 1e-3, weightDecay: 0.04, patchEmbedLrMult: 0.2,
                          pool: pool) { _ in true }
                ema.update(teacher: t, student: p, momentum: 0.996, pool: pool)
            }
            results.append((0 ..< n).map { p.base[$0].bitPattern } + (0 ..< n).map { t.base[$0].bitPattern })
        }
        #expect(results.allSatisfy { $0 == results[0] })
    }

    @Test func clippingCoefficientIsTorchs() {
        // ‖g‖ = 5 → coef = (1/(5 + 1e-6))·3 in Float32; ‖g‖ = 1 → left alone.
        #expect(Clipping.coefficient(norm: 5, clip: 3) == (1 / (Float(5) + Float(1e-6))) * 3)
        #expect(Clipping.coefficient(norm: 1, clip: 3) == nil)
        var layout = ParameterLayout()
        layout.add("a", [2])
        let g = ParameterBuffer(layout: layout)
        g.base[0] = 3; g.base[1] = 4
        let norms = Clipping.clip(g, clip: 0) { _ in true }
        #expect(norms == [0] && g.base[0] == 3, "clip 0 disables clipping")
    }
}
