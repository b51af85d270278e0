import Sampling
import Testing
@testable import MugsModel

/// Finite-difference helpers shared by the objective's tests (heads, losses, local group, step).
enum ObjectiveFD {
    static func fill(_ p: UnsafeMutablePointer<Float>, _ n: Int, scale: Float, key: UInt64) {
        var r = SampleRNG(key: [key])
        for i in 0 ..< n { p[i] = Float(r.normal()) * scale }
    }

    static func fill(_ buf: ParameterBuffer, scale: Float, key: UInt64) {
        for (i, s) in buf.layout.specs.enumerated() {
            fill(buf.pointer(s.name), s.count, scale: scale, key: key &+ UInt64(i) &* 7919)
        }
    }

    /// Directional derivative check: compares Σ grad·d with (f(x+εd) − f(x−εd)) / 2ε for a random d, and
    /// returns (analytic, numeric). `x` is perturbed in place and restored.
    static func directional(_ x: UnsafeMutablePointer<Float>, _ n: Int, grad: UnsafePointer<Float>, eps: Float,
                            key: UInt64, f: () -> Double) -> (Double, Double) {
        var d = [Float](repeating: 0, count: n)
        d.withUnsafeMutableBufferPointer { fill($0.baseAddress!, n, scale: 1, key: key) }
        var analytic = 0.0
        for i in 0 ..< n { analytic += Double(grad[i]) * Double(d[i]) }
        let saved = Array(UnsafeBufferPointer(start: x, count: n))
        for i in 0 ..< n { x[i] = saved[i] + eps * d[i] }
        let fp = f()
        for i in 0 ..< n { x[i] = saved[i] - eps * d[i] }
        let fm = f()
        for i in 0 ..< n { x[i] = saved[i] }
        return (analytic, (fp - fm) / (2 * Double(eps)))
    }

    /// |a − n| ≤ rel·max(|a|, |n|) + abs; prints both.
    static func expectClose(_ name: String, _ an: (Double, Double), rel: Double = 2e-2, abs: Double = 1e-4) {
        let (a, n) = an
        let err = Swift.abs(a - n)
        let ok = err <= rel * max(Swift.abs(a), Swift.abs(n)) + abs
        if !ok { print("FD \(name): analytic \(a) numeric \(n) diff \(err)") }
        #expect(ok, "FD \(name): analytic \(a) numeric \(n) diff \(err)")
    }
}

@Suite struct HeadsTests {
    let pool = ComputePool(threads: 2)

    @Test(arguments: [true, false])
    func contrastHeadGradientsMatchFiniteDifferences(withPredictor: Bool) {
        let (C, H, D, PH, N) = (12, 20, 8, withPredictor ? 16 : 0, 5)
        var layout = ParameterLayout()
        ContrastHead.addParameters(to: &layout, prefix: "instance_head.", C: C, H: H, D: D, PH: PH)
        let params = ParameterBuffer(layout: layout), grads = ParameterBuffer(layout: layout)
        ObjectiveFD.fill(params, scale: 0.3, key: 1)
        let head = ContrastHead(layout: layout, prefix: "instance_head.", C: C, H: H, D: D, PH: PH, maxRows: N,
                                training: true)
        let x = ScratchBuffer(N * C), dx = ScratchBuffer(N * C), r = ScratchBuffer(N * D)
        ObjectiveFD.fill(x.p, N * C, scale: 1, key: 2)
        ObjectiveFD.fill(r.p, N * D, scale: 1, key: 3)
        func f() -> Double {
            head.forward(inp: x.p, params: params, N: N, pool: pool)
            var s = 0.0
            for i in 0 ..< N * D { s += Double(head.output[i]) * Double(r.p[i]) }
            return s
        }
        _ = f()
        // outputs are unit rows
        for n in 0 ..< N {
            var s: Float = 0
            for c in 0 ..< D { s += head.output[n * D + c] * head.output[n * D + c] }
            #expect(abs(s - 1) < 1e-5)
        }
        head.backward(dInp: dx.p, grads: grads, dOut: r.p, inp: x.p, params: params, N: N, pool: pool)
        for s in layout.specs {
            let an = ObjectiveFD.directional(params.pointer(s.name), s.count, grad: grads.pointer(s.name),
                                             eps: 1e-2, key: 9, f: f)
            ObjectiveFD.expectClose(s.name, an)
        }
        ObjectiveFD.expectClose("input", ObjectiveFD.directional(x.p, N * C, grad: dx.p, eps: 1e-2, key: 10, f: f))
    }

    @Test(arguments: [true, false])
    func groupHeadGradientsMatchFiniteDifferences(trainG: Bool) {
        let (C, H, Bn, P, N) = (12, 20, 8, 24, 5)
        var layout = ParameterLayout()
        GroupHead.addParameters(to: &layout, prefix: "group_head.", C: C, H: H, Bn: Bn, P: P)
        let params = ParameterBuffer(layout: layout), grads = ParameterBuffer(layout: layout)
        ObjectiveFD.fill(params, scale: 0.3, key: 4)
        let g = params["group_head.last_layer.weight_g"]
        for p in 0 ..< P { g[p] = 1 + 0.1 * Float(p % 5) }
        let head = GroupHead(layout: layout, prefix: "group_head.", C: C, H: H, Bn: Bn, P: P, maxRows: N,
                             trainG: trainG, training: true)
        let x = ScratchBuffer(N * C), dx = ScratchBuffer(N * C), r = ScratchBuffer(N * P)
        ObjectiveFD.fill(x.p, N * C, scale: 1, key: 5)
        ObjectiveFD.fill(r.p, N * P, scale: 1, key: 6)
        func f() -> Double {
            head.forward(inp: x.p, params: params, N: N, pool: pool)
            var s = 0.0
            for i in 0 ..< N * P { s += Double(head.output[i]) * Double(r.p[i]) }
            return s
        }
        _ = f()
        // |logit| ≤ g[p] (unit bottleneck against a row of norm g[p])
        for n in 0 ..< N { for p in 0 ..< P { #expect(abs(head.output[n * P + p]) <= g[p] + 1e-5) } }
        head.backward(dInp: dx.p, grads: grads, dOut: r.p, inp: x.p, params: params, N: N, pool: pool)
        for s in layout.specs {
            if s.name.hasSuffix("weight_g") && !trainG {
                #expect(grads[s.name].allSatisfy { $0 == 0 })
                continue
            }
            let an = ObjectiveFD.directional(params.pointer(s.name), s.count, grad: grads.pointer(s.name),
                                             eps: 1e-2, key: 11, f: f)
            ObjectiveFD.expectClose(s.name, an)
        }
        ObjectiveFD.expectClose("input", ObjectiveFD.directional(x.p, N * C, grad: dx.p, eps: 1e-2, key: 12, f: f))
    }

    @Test func groupHeadLayoutUsesReferenceNames() {
        var layout = ParameterLayout()
        GroupHead.addParameters(to: &layout, prefix: "group_head.", C: 4, H: 6, Bn: 3, P: 10)
        #expect(layout.spec("group_head.last_layer.weight_g")?.shape == [10, 1])
        #expect(layout.spec("group_head.last_layer.weight_v")?.shape == [10, 3])
        #expect(layout.spec("group_head.projector.4.bias")?.shape == [3])
        ContrastHead.addParameters(to: &layout, prefix: "instance_head.", C: 4, H: 6, D: 5, PH: 7)
        #expect(layout.spec("instance_head.predictor.2.weight")?.shape == [5, 7])
        #expect(layout.spec("instance_head.projector.0.weight")?.shape == [6, 4])
    }
}
