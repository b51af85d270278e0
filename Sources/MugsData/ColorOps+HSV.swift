import Foundation

/// Hue rotation through PIL's uint8 HSV conversion (Pillow `Convert.c` `rgb2hsv_row` / `hsv2rgb`).
extension ColorOps {
    /// torchvision's PIL `adjust_hue(img, factor)`: RGB → HSV (uint8, PIL), H += int32(factor·255) mod 256,
    /// HSV → RGB. `factor` in [-0.5, 0.5].
    public static func hue(_ img: RGBImage, _ factor: Double) {
        // The round trip runs even when the shift is 0: PIL's HSV quantisation is lossy, and torchvision
        // does not skip it.
        hueRoundTrip(img, shift: UInt8(truncatingIfNeeded: Int32(factor * 255)))
    }

    /// The HSV round trip with a hue shift (also for shift 0, which is not the identity in PIL).
    public static func hueRoundTrip(_ img: RGBImage, shift: UInt8) {
        let p = img.pixels
        for i in 0 ..< img.width * img.height {
            var (h, s, v) = rgbToHSV(p[3 * i], p[3 * i + 1], p[3 * i + 2])
            h = h &+ shift
            let (r, g, b) = hsvToRGB(h, s, v)
            p[3 * i] = r; p[3 * i + 1] = g; p[3 * i + 2] = b
        }
    }

    /// Pillow `rgb2hsv_row`, with its float/double mix reproduced.
    @inline(__always)
    public static func rgbToHSV(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> (UInt8, UInt8, UInt8) {
        let maxc = max(r, max(g, b)), minc = min(r, min(g, b))
        if maxc == minc { return (0, 0, maxc) }
        let cr = Float(maxc - minc)
        let s = cr / Float(maxc)
        let rc = Float(maxc - r) / cr, gc = Float(maxc - g) / cr, bc = Float(maxc - b) / cr
        var h: Float
        if r == maxc {
            h = bc - gc
        } else if g == maxc {
            h = Float(2.0 + Double(rc) - Double(bc))
        } else {
            h = Float(4.0 + Double(gc) - Double(rc))
        }
        h = Float(fmod(Double(h) / 6.0 + 1.0, 1.0))
        return (clip8(Int(Double(h) * 255.0)), clip8(Int(Double(s) * 255.0)), maxc)
    }

    /// Pillow `hsv2rgb`, with its float/double mix reproduced.
    @inline(__always)
    public static func hsvToRGB(_ h: UInt8, _ s: UInt8, _ v: UInt8) -> (UInt8, UInt8, UInt8) {
        if s == 0 { return (v, v, v) }
        let h6 = Double(Float(h)) * 6.0 / 255.0
        let i = Int(h6.rounded(.down))
        let f = Float(h6 - Double(Float(i)))
        let fs = Float(Double(Float(s)) / 255.0)
        let vv = Double(Float(v))
        let up = clip8(Int((vv * (1.0 - Double(fs))).rounded()))
        let uq = clip8(Int((vv * (1.0 - Double(fs * f))).rounded()))
        let ut = clip8(Int((vv * (1.0 - Double(fs) * (1.0 - Double(f)))).rounded()))
        switch i % 6 {
        case 0: return (v, ut, up)
        case 1: return (uq, v, up)
        case 2: return (up, v, ut)
        case 3: return (up, uq, v)
        case 4: return (ut, up, v)
        default: return (v, up, uq)
        }
    }
}
