import Foundation

/// Pointwise colour operations with PIL's exact uint8 semantics (Pillow `Blend.c`, `Convert.c`,
/// `ImageEnhance`, `ImageOps`), as torchvision's PIL ColorJitter/Grayscale and timm's RandAugment use them.
/// All work in place on an `RGBImage`.
public enum ColorOps {
    /// ITU-R 601-2 luma as PIL's `convert("L")`: (R·19595 + G·38470 + B·7471 + 2¹⁵) >> 16.
    @inline(__always)
    public static func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        UInt8(truncatingIfNeeded: (UInt32(r) &* 19595 &+ UInt32(g) &* 38470 &+ UInt32(b) &* 7471 &+ 0x8000) >> 16)
    }

    /// PIL `Image.blend(degenerate, image, alpha)` for one channel value: float32 arithmetic, truncation,
    /// clamped when extrapolating.
    @inline(__always)
    public static func blend(_ degenerate: UInt8, _ image: UInt8, _ alpha: Float) -> UInt8 {
        let d = Int32(degenerate)
        let t = Float(d) + alpha * Float(Int32(image) - d)
        return t <= 0 ? 0 : (t >= 255 ? 255 : UInt8(t))
    }

    /// Applies one 256-entry table to every channel of `region` (default: the whole image).
    public static func applyLUT(_ img: RGBImage, _ lut: UnsafePointer<UInt8>, region: Region? = nil) {
        let r = region ?? .full(img.width, img.height)
        for y in r.y0 ..< r.y1 {
            let p = img.pixels + (y * img.width + r.x0) * 3
            for i in 0 ..< (r.x1 - r.x0) * 3 { p[i] = lut[Int(p[i])] }
        }
    }

    /// Applies a table per channel (`luts` holds 3 × 256 entries: R, G, B) to `region`.
    public static func applyLUT3(_ img: RGBImage, _ luts: UnsafePointer<UInt8>, region: Region? = nil) {
        let r = region ?? .full(img.width, img.height)
        for y in r.y0 ..< r.y1 {
            let p = img.pixels + (y * img.width + r.x0) * 3
            for i in 0 ..< r.x1 - r.x0 {
                p[3 * i] = luts[Int(p[3 * i])]
                p[3 * i + 1] = luts[256 + Int(p[3 * i + 1])]
                p[3 * i + 2] = luts[512 + Int(p[3 * i + 2])]
            }
        }
    }

    /// A table built from `f` and applied to every channel of `region`.
    public static func mapValues(_ img: RGBImage, region: Region? = nil, _ f: (Int) -> UInt8) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { lut in
            for i in 0 ..< 256 { lut[i] = f(i) }
            applyLUT(img, UnsafePointer(lut.baseAddress!), region: region)
        }
    }

    /// `ImageEnhance.Brightness(img).enhance(f)`: blend with black.
    public static func brightness(_ img: RGBImage, _ factor: Double, region: Region? = nil) {
        let a = Float(factor)
        mapValues(img, region: region) { blend(0, UInt8($0), a) }
    }

    /// `ImageEnhance.Contrast(img).enhance(f)`: blend with the uniform grey of the rounded mean luma.
    /// The mean is taken over the whole image (which must be valid everywhere); the blend is applied to `region`.
    public static func contrast(_ img: RGBImage, _ factor: Double, region: Region? = nil) {
        let mean = UInt8(meanLuma(img))
        let a = Float(factor)
        mapValues(img, region: region) { blend(mean, UInt8($0), a) }
    }

    /// `int(ImageStat.Stat(img.convert("L")).mean[0] + 0.5)`.
    public static func meanLuma(_ img: RGBImage) -> Int {
        let p = img.pixels, n = img.width * img.height
        if n == 0 { return 0 }
        var sum = 0
        for i in 0 ..< n { sum &+= Int(luma(p[3 * i], p[3 * i + 1], p[3 * i + 2])) }
        return Int(Double(sum) / Double(n) + 0.5)
    }

    /// `ImageEnhance.Color(img).enhance(f)`: blend with the image's own luma.
    public static func saturation(_ img: RGBImage, _ factor: Double, region: Region? = nil) {
        let a = Float(factor)
        let rg = region ?? .full(img.width, img.height)
        for y in rg.y0 ..< rg.y1 {
            let p = img.pixels + (y * img.width + rg.x0) * 3
            for i in 0 ..< rg.x1 - rg.x0 {
                let r = p[3 * i], g = p[3 * i + 1], b = p[3 * i + 2]
                let l = luma(r, g, b)
                p[3 * i] = blend(l, r, a)
                p[3 * i + 1] = blend(l, g, a)
                p[3 * i + 2] = blend(l, b, a)
            }
        }
    }

    /// torchvision's PIL `rgb_to_grayscale(img, 3)`: every channel set to the luma.
    public static func grayscale(_ img: RGBImage) {
        let p = img.pixels
        for i in 0 ..< img.width * img.height {
            let l = luma(p[3 * i], p[3 * i + 1], p[3 * i + 2])
            p[3 * i] = l; p[3 * i + 1] = l; p[3 * i + 2] = l
        }
    }

    @inline(__always)
    static func clip8(_ v: Int) -> UInt8 { v <= 0 ? 0 : (v >= 255 ? 255 : UInt8(truncatingIfNeeded: v)) }

    /// `ImageOps.solarize(img, threshold)`: values ≥ threshold are inverted.
    public static func solarize(_ img: RGBImage, threshold: Int = 128, region: Region? = nil) {
        mapValues(img, region: region) { $0 < threshold ? UInt8($0) : UInt8(255 - $0) }
    }

    /// timm's `solarize_add`: values below `threshold` get `add` (saturating at 255).
    public static func solarizeAdd(_ img: RGBImage, add: Int, threshold: Int = 128, region: Region? = nil) {
        mapValues(img, region: region) { $0 < threshold ? UInt8(min(255, $0 + add)) : UInt8($0) }
    }

    /// `ImageOps.posterize(img, bits)`: keep the top `bits` bits (bits ≥ 8: unchanged; bits ≤ 0: all zero,
    /// as Pillow < 11 did — Pillow 11+ raises for 0, which timm's PosterizeIncreasing reaches at magnitude 10).
    public static func posterize(_ img: RGBImage, bits: Int, region: Region? = nil) {
        if bits >= 8 { return }
        let mask = bits <= 0 ? 0 : ~((1 << (8 - bits)) - 1)
        mapValues(img, region: region) { UInt8($0 & mask & 255) }
    }

    /// `ImageOps.invert`.
    public static func invert(_ img: RGBImage, region: Region? = nil) { mapValues(img, region: region) { UInt8(255 - $0) } }

}
