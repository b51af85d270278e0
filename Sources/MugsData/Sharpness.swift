/// `ImageEnhance.Sharpness(img).enhance(factor)`: blend with PIL's 3×3 SMOOTH filter of the image
/// (kernel [1 1 1; 1 5 1; 1 1 1] / 13 in float32, +0.5, truncated; the image's one-pixel border is copied).
public enum Sharpness {
    /// In place on `region` (default: all); the input must be valid on `region` grown by one pixel.
    public static func apply(_ img: RGBImage, factor: Double, scratch: RGBImage, region: Region? = nil) {
        let r = region ?? .full(img.width, img.height)
        smooth(scratch, img, region: r)
        let a = Float(factor)
        for y in r.y0 ..< r.y1 {
            let o = (y * img.width + r.x0) * 3
            let p = img.pixels + o, d = scratch.pixels + o
            for i in 0 ..< (r.x1 - r.x0) * 3 { p[i] = ColorOps.blend(d[i], p[i], a) }
        }
    }

    /// dst = SMOOTH(src) on `region` (Pillow `ImagingFilter3x3` for 3-band images); dst is sized like src.
    public static func smooth(_ dst: RGBImage, _ src: RGBImage, region: Region? = nil) {
        let w = src.width, h = src.height
        let r = region ?? .full(w, h)
        dst.reshape(width: w, height: h)
        let stride = w * 3
        let small = w < 3 || h < 3 // PIL returns a copy when the image is smaller than the kernel
        let k1: Float = 1 / 13, k5: Float = 5 / 13
        for y in r.y0 ..< r.y1 {
            let out = dst.pixels + y * stride, mid = src.pixels + y * stride
            if small || y == 0 || y == h - 1 {
                (out + r.x0 * 3).update(from: mid + r.x0 * 3, count: (r.x1 - r.x0) * 3)
                continue
            }
            let up = mid - stride, down = mid + stride
            for x in r.x0 ..< r.x1 {
                if x == 0 || x == w - 1 {
                    out[3 * x] = mid[3 * x]; out[3 * x + 1] = mid[3 * x + 1]; out[3 * x + 2] = mid[3 * x + 2]
                    continue
                }
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
