/// Vectorisable elementary functions for the non-GEMM kernels. Plain scalar loops over these inline functions
/// are auto-vectorised by LLVM (no calls, no checked conversions), unlike glibc's `expf`/`erff`.

/// e^x for Float, relative error < 3e-7 on [-87, 88] (x is clamped there; e^-87 ≈ 1.6e-38).
///
/// Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, a degree-6 Taylor polynomial for e^r (truncation error
/// r⁷/7! < 3e-8 relative), and 2ⁿ built directly from the exponent bits.
@inline(__always)
func fastExp(_ x0: Float) -> Float {
    let x = min(max(x0, -87), 88)
    // n = round(x / ln2) via the 1.5·2²³ shifter: the rounded integer lands in the low mantissa bits of kf.
    let shifter: Float = 12_582_912
    let kf = shifter.addingProduct(x, 1.442_695_04)
    let n = kf - shifter
    var r = x.addingProduct(n, -0.693_145_751_953_125)  // ln2, high part (exact in Float)
    r = r.addingProduct(n, -1.428_606_765_330_187e-06)  // ln2, low part
    var p: Float = 1.0 / 720
    p = (1.0 / 120 as Float).addingProduct(p, r)
    p = (1.0 / 24 as Float).addingProduct(p, r)
    p = (1.0 / 6 as Float).addingProduct(p, r)
    p = (0.5 as Float).addingProduct(p, r)
    p = (1 as Float).addingProduct(p, r)
    p = (1 as Float).addingProduct(p, r)
    let bits = (kf.bitPattern &- shifter.bitPattern) &+ 127
    return p * Float(bitPattern: bits << 23)
}

/// erf(x) for Float, absolute error < 1e-6 (checked against libm in KernelMathTests).
///
/// Rational approximation p(x)/q(x) with odd p (degree 13) and even q (degree 8) on x ∈ [-4, 4]; outside that
/// interval erf is ±1 to Float precision. These are the minimax coefficients used by Eigen and XLA.
@inline(__always)
func fastErf(_ x0: Float) -> Float {
    let x = min(max(x0, -4), 4)
    let x2 = x * x
    var p: Float = -2.726_142_258_013_06e-10
    p = (2.770_681_424_959_02e-08 as Float).addingProduct(p, x2)
    p = (-2.101_024_020_825_08e-06 as Float).addingProduct(p, x2)
    p = (-5.692_506_394_623_46e-05 as Float).addingProduct(p, x2)
    p = (-7.349_906_303_268_55e-04 as Float).addingProduct(p, x2)
    p = (-2.954_599_808_540_25e-03 as Float).addingProduct(p, x2)
    p = (-1.609_603_332_624_15e-02 as Float).addingProduct(p, x2)
    p *= x
    var q: Float = -1.456_607_184_649_96e-05
    q = (-2.133_740_552_789_05e-04 as Float).addingProduct(q, x2)
    q = (-1.682_826_974_382_03e-03 as Float).addingProduct(q, x2)
    q = (-7.373_329_167_204_68e-03 as Float).addingProduct(q, x2)
    q = (-1.426_473_905_141_89e-02 as Float).addingProduct(q, x2)
    return p / q
}
