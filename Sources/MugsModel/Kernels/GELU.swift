/// Exact (erf) GELU as in PyTorch's `nn.GELU()`: gelu(x) = x·Φ(x) = x·½(1 + erf(x/√2)).
///
/// erf comes from `fastErf` (absolute error < 1e-6), vectorised; rows are split across the pool's threads.

private let invSqrt2: Float = 0.707_106_781_186_547_5
private let invSqrt2Pi: Float = 0.398_942_280_401_432_7

/// out = gelu(inp), elementwise over `count` values.
public func geluForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int, pool: ComputePool) {
    KernelProfile.measure(.gelu) {
        pool.parallelFor(count, minChunk: 4096) { r in
            for i in r {
                let x = inp[i]
                out[i] = 0.5 * x * (1 + fastErf(x * invSqrt2))
            }
        }
    }
}

/// dInp += dOut · gelu'(inp), with gelu'(x) = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π).
public func geluBackward(dInp: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                         count: Int, pool: ComputePool) {
    geluBackward(dInp: dInp, dOut: dOut, inp: inp, count: count, accumulate: true, pool: pool)
}

/// `geluBackward` that overwrites dInp when `accumulate` is false.
func geluBackward(dInp: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                  count: Int, accumulate: Bool, pool: ComputePool) {
    KernelProfile.measure(.gelu) {
        pool.parallelFor(count, minChunk: 4096) { r in
            if accumulate {
                for i in r { dInp[i] = dInp[i].addingProduct(dOut[i], geluDerivative(inp[i])) }
            } else {
                for i in r { dInp[i] = dOut[i] * geluDerivative(inp[i]) }
            }
        }
    }
}

/// gelu'(x) = Φ(x) + x·φ(x).
@inline(__always)
func geluDerivative(_ x: Float) -> Float {
    let cdf = 0.5 * (1 + fastErf(x * invSqrt2))
    let pdf = invSqrt2Pi * fastExp(-0.5 * x * x)
    return cdf.addingProduct(x, pdf)
}
