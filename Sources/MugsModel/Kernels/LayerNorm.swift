/// Layer normalisation over the last dimension (PyTorch `nn.LayerNorm(C, eps)`; the ViT uses eps = 1e-6):
/// out = (x − mean) · rstd · weight + bias, rstd = 1/√(var + eps), var the biased variance.
///
/// Rows are split across threads. The row statistics use two passes over the row (it sits in L1), which is
/// as accurate as Welford's and vectorises.

/// out(N,C) = layernorm(inp(N,C)); mean(N) and rstd(N) are saved for the backward.
public func layerNormForward(out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                             rstd: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
                             weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, N: Int, C: Int, eps: Float,
                             pool: ComputePool) {
    KernelProfile.measure(.layerNorm) {
        layerNormRows(out: out, mean: mean, rstd: rstd, inp: inp, weight: weight, bias: bias, N: N, C: C, eps: eps,
                      pool: pool)
    }
}

private func layerNormRows(out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                           rstd: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
                           weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, N: Int, C: Int, eps: Float,
                           pool: ComputePool) {
    let invC = 1 / Float(C)
    pool.parallelFor(N, minChunk: 16) { rows in
        for n in rows {
            let x = inp + n * C, y = out + n * C
            var s: Float = 0
            for c in 0 ..< C { s += x[c] }
            let m = s * invC
            var v: Float = 0
            for c in 0 ..< C { let d = x[c] - m; v = v.addingProduct(d, d) }
            let rs = 1 / (v * invC + eps).squareRoot()
            for c in 0 ..< C { y[c] = bias[c].addingProduct((x[c] - m) * rs, weight[c]) }
            mean[n] = m
            rstd[n] = rs
        }
    }
}

/// Backward of `layerNormForward`; accumulates into all three gradients.
///
/// With x̂ = (x − mean)·rstd and g = dOut·weight:
/// dInp += rstd · (g − mean(g) − x̂ · mean(g·x̂)),  dWeight += Σₙ dOut·x̂,  dBias += Σₙ dOut.
/// dInp splits rows across threads; dWeight/dBias split columns and add rows in order, so they are
/// deterministic and independent of the thread count.
public func layerNormBackward(dInp: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>,
                              dBias: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                              inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, N: Int, C: Int,
                              pool: ComputePool) {
    KernelProfile.measure(.layerNorm) {
        layerNormBackwardRows(dInp: dInp, dWeight: dWeight, dBias: dBias, dOut: dOut, inp: inp, weight: weight,
                              mean: mean, rstd: rstd, N: N, C: C, pool: pool)
    }
}

private func layerNormBackwardRows(dInp: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>,
                                   dBias: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                   inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                   mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, N: Int, C: Int,
                                   pool: ComputePool) {
    let invC = 1 / Float(C)
    pool.parallelFor(N, minChunk: 16) { rows in
        for n in rows {
            let x = inp + n * C, dy = dOut + n * C, dx = dInp + n * C
            let m = mean[n], rs = rstd[n]
            var sumG: Float = 0, sumGX: Float = 0
            for c in 0 ..< C {
                let g = dy[c] * weight[c]
                sumG += g
                sumGX = sumGX.addingProduct(g, (x[c] - m) * rs)
            }
            let mg = sumG * invC, mgx = sumGX * invC
            for c in 0 ..< C {
                let xh = (x[c] - m) * rs
                let g = dy[c] * weight[c]
                dx[c] = dx[c].addingProduct(rs, (g - mg).addingProduct(-xh, mgx))
            }
        }
    }
    // Column pass: threads own 16-column tiles, summed over the rows in order in registers.
    typealias V = SIMD8<Float>
    pool.parallelFor((C + 15) / 16, minChunk: 1) { tiles in
        for tile in tiles {
            let lo = tile * 16
            if lo + 16 <= C {
                var w0 = V(), w1 = V(), b0 = V(), b1 = V()
                for n in 0 ..< N {
                    let x = UnsafeRawPointer(inp + n * C + lo), dy = UnsafeRawPointer(dOut + n * C + lo)
                    let m = V(repeating: mean[n]), rs = V(repeating: rstd[n])
                    let d0 = dy.loadUnaligned(as: V.self), d1 = dy.loadUnaligned(fromByteOffset: 32, as: V.self)
                    let x0 = (x.loadUnaligned(as: V.self) - m) * rs
                    let x1 = (x.loadUnaligned(fromByteOffset: 32, as: V.self) - m) * rs
                    w0.addProduct(d0, x0); w1.addProduct(d1, x1)
                    b0 += d0; b1 += d1
                }
                for i in 0 ..< 8 {
                    dWeight[lo + i] += w0[i]; dWeight[lo + 8 + i] += w1[i]
                    dBias[lo + i] += b0[i]; dBias[lo + 8 + i] += b1[i]
                }
            } else {
                for c in lo ..< C {
                    var w: Float = 0, b: Float = 0
                    for n in 0 ..< N {
                        let dy = dOut[n * C + c]
                        w = w.addingProduct(dy, (inp[n * C + c] - mean[n]) * rstd[n])
                        b += dy
                    }
                    dWeight[c] += w; dBias[c] += b
                }
            }
        }
    }
}
