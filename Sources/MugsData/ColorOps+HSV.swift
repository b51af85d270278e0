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
        let t = HSVTables.shared
        t.hueI.withUnsafeBufferPointer { hi in
            t.hueF.withUnsafeBufferPointer { hf in
                t.oneMinusHueF.withUnsafeBufferPointer { h1f in
                    t.satF.withUnsafeBufferPointer { sf in
                        for i in 0 ..< img.width * img.height {
                            var (h, s, v) = rgbToHSV(p[3 * i], p[3 * i + 1], p[3 * i + 2])
                            h = h &+ shift
                            let (r, g, b) = s == 0 ? (v, v, v)
                                : hsvToRGB(i: Int(hi[Int(h)]), f: hf[Int(h)], oneMinusF: h1f[Int(h)], fs: sf[Int(s)], v: v)
                            p[3 * i] = r; p[3 * i + 1] = g; p[3 * i + 2] = b
                        }
                    }
                }
            }
        }
    }

    /// Pillow `rgb2hsv_row`, with its float/double mix reproduced.
    @inline(__always)
    public static func rgbToHSV(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> (UInt8, UInt8, UInt8) {
        let maxc = max(r, max(g, b)), minc = min(r, min(g, b))
        if maxc == minc { return (0, 0, maxc) }
        let cr = Float(maxc - minc)
        let s = cr / Float(maxc)
        var h: Float
        if r == maxc {
            h = Float(maxc - b) / cr - Float(maxc - g) / cr // bc − gc
        } else if g == maxc {
            h = Float(2.0 + Double(Float(maxc - r) / cr) - Double(Float(maxc - b) / cr)) // 2 + rc − bc
        } else {
            h = Float(4.0 + Double(Float(maxc - g) / cr) - Double(Float(maxc - r) / cr)) // 4 + gc − rc
        }
        // fmod(h/6 + 1, 1): the argument lies in [5/6, 11/6), where fmod is x or x − 1, both exact.
        let x = Double(h) / 6.0 + 1.0
        h = Float(x >= 1 ? x - 1 : x)
        return (clip8(Int(Double(h) * 255.0)), clip8(Int(Double(s) * 255.0)), maxc)
    }

    /// Pillow `hsv2rgb`, with its float/double mix reproduced.
    @inline(__always)
    public static func hsvToRGB(_ h: UInt8, _ s: UInt8, _ v: UInt8) -> (UInt8, UInt8, UInt8) {
        if s == 0 { return (v, v, v) }
        let t = HSVTables.shared
        return hsvToRGB(i: Int(t.hueI[Int(h)]), f: t.hueF[Int(h)], oneMinusF: t.oneMinusHueF[Int(h)],
                        fs: t.satF[Int(s)], v: v)
    }

    /// hsv2rgb for s > 0 from the per-h and per-s quantities (tables: i = ⌊6h/255⌋, f, 1 − f; fs = s/255).
    @inline(__always)
    static func hsvToRGB(i: Int, f: Float, oneMinusF: Double, fs: Float, v: UInt8) -> (UInt8, UInt8, UInt8) {
        let vv = Double(Float(v))
        let up = clip8(roundHalfAway(vv * (1.0 - Double(fs))))
        let uq = clip8(roundHalfAway(vv * (1.0 - Double(fs * f))))
        let ut = clip8(roundHalfAway(vv * (1.0 - Double(fs) * oneMinusF)))
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

extension ColorOps {
    /// C's `round` (half away from zero) for x ≥ 0 without a libm call: x − trunc(x) is exact, so comparing
    /// it with ½ decides exactly as `round` does.
    @inline(__always)
    static func roundHalfAway(_ x: Double) -> Int {
        let t = x.rounded(.towardZero)
        return Int(t) + (x - t >= 0.5 ? 1 : 0)
    }
}

/// Per-value quantities of Pillow's hsv2rgb, computed once with its exact float/double steps.
final class HSVTables: Sendable {
    static let shared = HSVTables()
    let hueI: [Int8], hueF: [Float], oneMinusHueF: [Double], satF: [Float]

    private init() {
        var hi = [Int8](), hf = [Float](), h1 = [Double](), sf = [Float]()
        for h in 0 ..< 256 {
            let h6 = Double(Float(h)) * 6.0 / 255.0
            let i = Int(h6.rounded(.down))
            let f = Float(h6 - Double(Float(i)))
            hi.append(Int8(i)); hf.append(f); h1.append(1.0 - Double(f))
        }
        for s in 0 ..< 256 { sf.append(Float(Double(Float(s)) / 255.0)) }
        hueI = hi; hueF = hf; oneMinusHueF = h1; satF = sf
    }
}
