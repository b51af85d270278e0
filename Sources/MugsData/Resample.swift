import Foundation

/// PIL's antialiased bicubic resize (`Image.resize(size, BICUBIC)`, Pillow `libImaging/Resample.c`) on a
/// crop of an RGB image, bit-exact: Keys cubic with a = -0.5, support 2 scaled by the downscale factor,
/// coefficients normalised per output pixel and quantised to 22 fractional bits, horizontal pass then
/// vertical pass, each rounded to uint8. `crop` then `resize` as torchvision's `resized_crop` does on PIL
/// images: the filter support is clamped to the crop, never reading outside it.
///
/// Holds grow-only scratch buffers, so repeated calls with similar sizes do not allocate. Not thread-safe:
/// one per loader thread.
public final class Resampler: @unchecked Sendable {
    static let precisionBits: Int32 = 22 // PIL: 32 - 8 - 2
    private var boundsH: [Int32] = [], coeffH: [Int32] = []
    private var boundsV: [Int32] = [], coeffV: [Int32] = []
    private var temp = RGBImage()
    private var accumulator: [Int32] = []

    public init() {}

    /// Keys' cubic convolution kernel with a = -0.5, PIL's `bicubic_filter`.
    @inline(__always)
    static func bicubic(_ x0: Double) -> Double {
        let a = -0.5
        let x = x0 < 0 ? -x0 : x0
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// PIL's `precompute_coeffs` + `normalize_coeffs_8bpc` for a box [0, inSize) → outSize.
    /// Returns ksize; fills `bounds` (xmin, count pairs) and `coeffs` (outSize × ksize, fixed point).
    static func precompute(inSize: Int, outSize: Int, bounds: inout [Int32], coeffs: inout [Int32]) -> Int {
        let scale = Double(inSize) / Double(outSize)
        let filterscale = max(scale, 1.0)
        let support = 2.0 * filterscale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        if bounds.count < outSize * 2 { bounds = [Int32](repeating: 0, count: outSize * 2) }
        if coeffs.count < outSize * ksize { coeffs = [Int32](repeating: 0, count: outSize * ksize) }
        var k = [Double](repeating: 0, count: ksize)
        let one = Double(1 << precisionBits)
        for xx in 0 ..< outSize {
            let center = (Double(xx) + 0.5) * scale
            let ss = 1.0 / filterscale
            var xmin = Int(center - support + 0.5) // C cast: truncation toward zero
            if xmin < 0 { xmin = 0 }
            var xmax = Int(center + support + 0.5)
            if xmax > inSize { xmax = inSize }
            xmax -= xmin
            var ww = 0.0
            for x in 0 ..< xmax {
                let w = bicubic((Double(x + xmin) - center + 0.5) * ss)
                k[x] = w
                ww += w
            }
            for x in 0 ..< ksize {
                var v = x < xmax ? k[x] : 0
                if x < xmax && ww != 0 { v /= ww }
                coeffs[xx * ksize + x] = v < 0 ? Int32(-0.5 + v * one) : Int32(0.5 + v * one)
            }
            bounds[xx * 2] = Int32(xmin)
            bounds[xx * 2 + 1] = Int32(xmax)
        }
        return ksize
    }

    @inline(__always)
    static func clip8(_ ss: Int32) -> UInt8 {
        let v = ss >> precisionBits
        return v < 0 ? 0 : (v > 255 ? 255 : UInt8(truncatingIfNeeded: v))
    }

    /// dst(outW × outH) = bicubic resize of src[top ..< top+cropH, left ..< left+cropW].
    public func resizedCrop(_ dst: RGBImage, _ src: RGBImage, top: Int, left: Int, cropHeight: Int, cropWidth: Int,
                            outWidth: Int, outHeight: Int) {
        precondition(top >= 0 && left >= 0 && cropWidth > 0 && cropHeight > 0
                     && top + cropHeight <= src.height && left + cropWidth <= src.width,
                     "crop (\(top), \(left), \(cropHeight), \(cropWidth)) outside \(src.width)×\(src.height)")
        precondition(dst !== src, "resize needs distinct images")
        let needH = outWidth != cropWidth, needV = outHeight != cropHeight
        // Pillow ≥ 11: "if height is being scaled down more than twice the amount the width is, run the
        // vertical pass first" (the pass order changes the intermediate rounding, so it must match).
        let horizontalFirst = !(cropHeight - outHeight > 0 && cropHeight - outHeight > (cropWidth - outWidth) * 2)
        if !needH && !needV {
            dst.reshape(width: cropWidth, height: cropHeight)
            for y in 0 ..< cropHeight {
                (dst.pixels + y * cropWidth * 3).update(from: src.pixels + ((top + y) * src.width + left) * 3,
                                                        count: cropWidth * 3)
            }
            return
        }
        let ksizeV = needV ? Resampler.precompute(inSize: cropHeight, outSize: outHeight, bounds: &boundsV,
                                                  coeffs: &coeffV) : 0
        let ksizeH = needH ? Resampler.precompute(inSize: cropWidth, outSize: outWidth, bounds: &boundsH,
                                                  coeffs: &coeffH) : 0
        if horizontalFirst || !needV {
            if needH {
                // Only the rows the vertical pass reads, relative to the crop.
                let firstRow = needV ? Int(boundsV[0]) : 0
                let rows = needV ? Int(boundsV[outHeight * 2 - 2] + boundsV[outHeight * 2 - 1]) - firstRow : cropHeight
                let tmp = needV ? temp : dst
                tmp.reshape(width: outWidth, height: rows)
                horizontal(tmp, src, firstRow: top + firstRow, rows: rows, left: left, ksize: ksizeH,
                           outWidth: outWidth)
                if needV {
                    dst.reshape(width: outWidth, height: outHeight)
                    vertical(dst, tmp, top: -firstRow, left: 0, width: outWidth, ksize: ksizeV, outHeight: outHeight)
                }
            } else {
                dst.reshape(width: cropWidth, height: outHeight)
                vertical(dst, src, top: top, left: left, width: cropWidth, ksize: ksizeV, outHeight: outHeight)
            }
        } else {
            let tmp = needH ? temp : dst
            tmp.reshape(width: cropWidth, height: outHeight)
            vertical(tmp, src, top: top, left: left, width: cropWidth, ksize: ksizeV, outHeight: outHeight)
            if needH {
                dst.reshape(width: outWidth, height: outHeight)
                horizontal(dst, tmp, firstRow: 0, rows: outHeight, left: 0, ksize: ksizeH, outWidth: outWidth)
            }
        }
    }

    private func horizontal(_ dst: RGBImage, _ src: RGBImage, firstRow: Int, rows: Int, left: Int, ksize: Int,
                            outWidth: Int) {
        let half: Int32 = 1 << (Resampler.precisionBits - 1)
        boundsH.withUnsafeBufferPointer { bp in
            coeffH.withUnsafeBufferPointer { cp in
                let b = bp.baseAddress!, kk = cp.baseAddress!
                for y in 0 ..< rows {
                    let inRow = src.pixels + ((firstRow + y) * src.width + left) * 3
                    let outRow = dst.pixels + y * outWidth * 3
                    for xx in 0 ..< outWidth {
                        let xmin = Int(b[xx * 2]), xmax = Int(b[xx * 2 + 1])
                        let k = kk + xx * ksize
                        var s0 = half, s1 = half, s2 = half
                        var p = inRow + xmin * 3
                        for x in 0 ..< xmax {
                            let w = k[x]
                            s0 &+= Int32(p[0]) &* w
                            s1 &+= Int32(p[1]) &* w
                            s2 &+= Int32(p[2]) &* w
                            p += 3
                        }
                        outRow[xx * 3] = Resampler.clip8(s0)
                        outRow[xx * 3 + 1] = Resampler.clip8(s1)
                        outRow[xx * 3 + 2] = Resampler.clip8(s2)
                    }
                }
            }
        }
    }

    /// Vertical pass; `top` is the source row of crop row 0 (bounds are crop-relative).
    private func vertical(_ dst: RGBImage, _ src: RGBImage, top: Int, left: Int, width: Int, ksize: Int,
                          outHeight: Int) {
        let n = width * 3
        if accumulator.count < n { accumulator = [Int32](repeating: 0, count: n) }
        let half: Int32 = 1 << (Resampler.precisionBits - 1)
        boundsV.withUnsafeBufferPointer { bp in
            coeffV.withUnsafeBufferPointer { cp in
                accumulator.withUnsafeMutableBufferPointer { ap in
                    let b = bp.baseAddress!, kk = cp.baseAddress!, acc = ap.baseAddress!
                    for yy in 0 ..< outHeight {
                        let ymin = Int(b[yy * 2]), ymax = Int(b[yy * 2 + 1])
                        let k = kk + yy * ksize
                        acc.update(repeating: half, count: n)
                        for y in 0 ..< ymax {
                            let w = k[y]
                            let row = src.pixels + ((top + ymin + y) * src.width + left) * 3
                            for i in 0 ..< n { acc[i] &+= Int32(row[i]) &* w }
                        }
                        let out = dst.pixels + yy * n
                        for i in 0 ..< n { out[i] = Resampler.clip8(acc[i]) }
                    }
                }
            }
        }
    }
}
