/// Exact (erf) GELU as in PyTorch's `nn.GELU()`: gelu(x) = x·Φ(x) = x·½(1 + erf(x/√2)).
///
/// erf comes from `fastErf` (absolute error < 1e-6), vectorised; rows are split across the pool's threads.

private let invSqrt2: Float = 0.707_106_781_186_547_5
private let invSqrt2Pi: Float = 0.398_942_280_401_432_7

/// out = gelu(inp), elementwise over `count` values.
public func geluForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int, pool: ComputePool) {
    pool.parallelFor(count, minChunk: 4096) { r in
        for i in r {
            let x = inp[i]
            out[i] = 0.5 * x * (1 + fastErf(x * invSqrt2))
        }
    }
}

/// dInp += dOut · gelu'(inp), with gelu'(x) = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π).
public func geluBackward(dInp: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                         count: Int, pool: ComputePool) {
    pool.parallelFor(count, minChunk: 4096) { r in
        for i in r {
            let x = inp[i]
            let cdf = 0.5 * (1 + fastErf(x * invSqrt2))
            let pdf = invSqrt2Pi * fastExp(-0.5 * x * x)
            dInp[i] = dInp[i].addingProduct(dOut[i], cdf.addingProduct(x, pdf))
        }
    }
}
