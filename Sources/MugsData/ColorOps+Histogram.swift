/// Histogram-driven RandAugment ops (Pillow `ImageOps.autocontrast` / `equalize`): statistics over the whole
/// image, the resulting per-channel tables applied to a region.
extension ColorOps {
    /// Per-channel histograms (3 × 256 counts).
    static func histograms(_ img: RGBImage, _ h: UnsafeMutablePointer<Int>) {
        h.update(repeating: 0, count: 768)
        let p = img.pixels
        for i in 0 ..< img.width * img.height {
            h[Int(p[3 * i])] += 1
            h[256 + Int(p[3 * i + 1])] += 1
            h[512 + Int(p[3 * i + 2])] += 1
        }
    }

    /// `ImageOps.autocontrast(img)` (cutoff 0): per channel, stretch [lo, hi] to [0, 255].
    /// Histograms over the whole image (valid everywhere); the mapping is applied to `region`.
    public static func autocontrast(_ img: RGBImage, region: Region? = nil) {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 768) { hb in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 768) { lb in
                let h = hb.baseAddress!, lut = lb.baseAddress!
                histograms(img, h)
                for c in 0 ..< 3 {
                    let hc = h + 256 * c
                    var lo = 0, hi = 255
                    while lo < 256 && hc[lo] == 0 { lo += 1 }
                    while hi >= 0 && hc[hi] == 0 { hi -= 1 }
                    if lo > 255 { lo = 255 } // empty image: Python leaves lo = 255 after the loop
                    if hi < 0 { hi = 0 }
                    for ix in 0 ..< 256 {
                        if hi <= lo {
                            lut[256 * c + ix] = UInt8(ix)
                        } else {
                            let scale = 255.0 / Double(hi - lo)
                            let offset = -Double(lo) * scale
                            lut[256 * c + ix] = clip8(Int(Double(ix) * scale + offset))
                        }
                    }
                }
                applyLUT3(img, UnsafePointer(lut), region: region)
            }
        }
    }

    /// `ImageOps.equalize(img)`: per-channel histogram equalisation (PIL's step rule).
    /// Histograms over the whole image (valid everywhere); the mapping is applied to `region`.
    public static func equalize(_ img: RGBImage, region: Region? = nil) {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 768) { hb in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 768) { lb in
                let h = hb.baseAddress!, lut = lb.baseAddress!
                histograms(img, h)
                for c in 0 ..< 3 {
                    let hc = h + 256 * c
                    var nonzero = 0, total = 0, last = 0
                    for i in 0 ..< 256 where hc[i] != 0 { nonzero += 1; total += hc[i]; last = hc[i] }
                    let step = nonzero <= 1 ? 0 : (total - last) / 255
                    if step == 0 {
                        for i in 0 ..< 256 { lut[256 * c + i] = UInt8(i) }
                    } else {
                        var n = step / 2
                        for i in 0 ..< 256 {
                            lut[256 * c + i] = clip8(n / step)
                            n += hc[i]
                        }
                    }
                }
                applyLUT3(img, UnsafePointer(lut), region: region)
            }
        }
    }
}
