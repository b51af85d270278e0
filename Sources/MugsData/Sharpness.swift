/// `ImageEnhance.Sharpness(img).enhance(factor)`: blend with PIL's 3×3 SMOOTH filter of the image
/// (kernel [1 1 1; 1 5 1; 1 1 1] / 13 in float32, +0.5, truncated; the one-pixel border is copied).
public enum Sharpness {
    public static func apply(_ img: RGBImage, factor: Double, scratch: RGBImage) {
        smooth(scratch, img)
        let a = Float(factor)
        let p = img.pixels, d = scratch.pixels
        for i in 0 ..< img.byteCount { p[i] = ColorOps.blend(d[i], p[i], a) }
    }

    /// dst = SMOOTH(src), Pillow `ImagingFilter3x3` for 3-band images.
    public static func smooth(_ dst: RGBImage, _ src: RGBImage) {
        let w = src.width, h = src.height
        dst.copy(from: src)
        if w < 3 || h < 3 { return } // PIL returns a copy when the image is smaller than the kernel
        let k1: Float = 1 / 13, k5: Float = 5 / 13
        let stride = w * 3
        for y in 1 ..< h - 1 {
            let up = src.pixels + (y - 1) * stride, mid = src.pixels + y * stride, down = src.pixels + (y + 1) * stride
            let out = dst.pixels + y * stride
            for x in 1 ..< w - 1 {
                for c in 0 ..< 3 {
                    let i = 3 * x + c
                    var ss: Float = 0.5
                    ss += Float(down[i - 3]) * k1 + Float(down[i]) * k1 + Float(down[i + 3]) * k1
                    ss += Float(mid[i - 3]) * k1 + Float(mid[i]) * k5 + Float(mid[i + 3]) * k1
                    ss += Float(up[i - 3]) * k1 + Float(up[i]) * k1 + Float(up[i + 3]) * k1
                    out[i] = ss <= 0 ? 0 : (ss >= 255 ? 255 : UInt8(ss))
                }
            }
        }
    }
}
