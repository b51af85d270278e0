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

/// preAct(N,F) += bias(F), then out(N,F) = gelu(preAct): a Linear's bias and the activation that consumes it in one
/// pass over the rows (fc1 of the MLP; the product is computed without bias, beta = 0). preAct keeps the biased
/// values, which the backward needs; the result equals `linearForward` with bias followed by `geluForward`.
public func biasGELUForward(out: UnsafeMutablePointer<Float>, preAct: UnsafeMutablePointer<Float>,
                            bias: UnsafePointer<Float>, N: Int, F: Int, pool: ComputePool) {
    KernelProfile.measure(.gelu) {
        pool.parallelFor(N, minChunk: max(1, 4096 / max(1, F))) { rows in
            for n in rows {
                let x = preAct + n * F, y = out + n * F
                for c in 0 ..< F {
                    let v = x[c] + bias[c]
                    x[c] = v
                    y[c] = 0.5 * v * (1 + fastErf(v * invSqrt2))
                }
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
