import Foundation

/// Flips and PIL's affine `Image.transform(size, AFFINE, data, resample, fillcolor=...)` (Pillow
/// `libImaging/Geometry.c`, generic transform path) for RandAugment's rotate/shear/translate.
public enum Geometry {
    /// Resampling filters of PIL's affine transform (RandAugment picks one at random per op).
    public enum Filter: Sendable { case bilinear, bicubic }

    /// Mirrors the image left–right in place (`Image.transpose(FLIP_LEFT_RIGHT)`).
    public static func flipHorizontal(_ img: RGBImage) {
        let w = img.width
        for y in 0 ..< img.height {
            let row = img.pixels + y * w * 3
            var a = 0, b = w - 1
            while a < b {
                let pa = row + 3 * a, pb = row + 3 * b
                let r = pa[0], g = pa[1], bl = pa[2]
                pa[0] = pb[0]; pa[1] = pb[1]; pa[2] = pb[2]
                pb[0] = r; pb[1] = g; pb[2] = bl
                a += 1; b -= 1
            }
        }
    }

    /// dst = src under the inverse affine map (x, y) ↦ (a0·x' + a1·y' + a2, a3·x' + a4·y' + a5) evaluated
    /// at pixel centres; output pixels whose source point falls outside the image keep `fill`. Only `region`
    /// of dst is computed (default: all); dst is sized like src.
    public static func affine(_ dst: RGBImage, _ src: RGBImage, _ a: (Double, Double, Double, Double, Double, Double),
                              filter: Filter, fill: (UInt8, UInt8, UInt8), region: Region? = nil) {
        precondition(dst !== src, "affine needs distinct images")
        let w = src.width, h = src.height
        dst.reshape(width: w, height: h)
        let r = region ?? .full(w, h)
        let fw = Double(w), fh = Double(h)
        let sp = src.pixels, dp = dst.pixels // hoisted: class property reads in the loop cost exclusivity checks
        for y in r.y0 ..< r.y1 {
            let yc = Double(y) + 0.5
            let o = dp + y * w * 3
            for x in r.x0 ..< r.x1 {
                let xc = Double(x) + 0.5
                let xin = a.0 * xc + a.1 * yc + a.2
                let yin = a.3 * xc + a.4 * yc + a.5
                let p = o + 3 * x
                if !(xin >= 0 && xin < fw && yin >= 0 && yin < fh) {
                    p[0] = fill.0; p[1] = fill.1; p[2] = fill.2
                } else if filter == .bilinear {
                    bilinear(p, sp, w, h, xin, yin)
                } else {
                    bicubic(p, sp, w, h, xin, yin)
                }
            }
        }
    }

    /// The source pixels an affine output region reads (its corners mapped back, + the bicubic support),
    /// clamped to the image.
    public static func sourceRegion(of r: Region, _ a: (Double, Double, Double, Double, Double, Double), width: Int,
                                    height: Int) -> Region {
        var lx = Double.infinity, ly = Double.infinity, hx = -Double.infinity, hy = -Double.infinity
        for (x, y) in [(r.x0, r.y0), (r.x1 - 1, r.y0), (r.x0, r.y1 - 1), (r.x1 - 1, r.y1 - 1)] {
            let xc = Double(x) + 0.5, yc = Double(y) + 0.5
            let xin = a.0 * xc + a.1 * yc + a.2 - 0.5, yin = a.3 * xc + a.4 * yc + a.5 - 0.5
            lx = min(lx, xin); hx = max(hx, xin); ly = min(ly, yin); hy = max(hy, yin)
        }
        let x0 = Int(lx.rounded(.down)) - 2, x1 = Int(hx.rounded(.down)) + 4
        let y0 = Int(ly.rounded(.down)) - 2, y1 = Int(hy.rounded(.down)) + 4
        return Region(x0: max(0, min(width, x0)), y0: max(0, min(height, y0)),
                      x1: max(0, min(width, x1)), y1: max(0, min(height, y1)))
    }

    @inline(__always) static func clampX(_ x: Int, _ w: Int) -> Int { x < 0 ? 0 : (x < w ? x : w - 1) }

    /// Pillow `bilinear_filter32RGB`: double arithmetic, truncated to uint8; rows past the bottom repeat.
    @inline(__always)
    static func bilinear(_ o: UnsafeMutablePointer<UInt8>, _ pixels: UnsafeMutablePointer<UInt8>, _ w: Int, _ h: Int,
                         _ xin0: Double, _ yin0: Double) {
        let xin = xin0 - 0.5, yin = yin0 - 0.5
        let xf = xin.rounded(.down), yf = yin.rounded(.down)
        let x = Int(xf), y = Int(yf)
        let dx = xin - xf, dy = yin - yf
        let x0 = clampX(x, w) * 3, x1 = clampX(x + 1, w) * 3
        let row0 = pixels + clampX(y, h) * w * 3
        let hasRow1 = y + 1 >= 0 && y + 1 < h
        let row1 = hasRow1 ? pixels + (y + 1) * w * 3 : row0
        for c in 0 ..< 3 {
            let a0 = Double(row0[x0 + c]), b0 = Double(row0[x1 + c])
            let v1 = a0 + (b0 - a0) * dx
            let a1 = Double(row1[x0 + c]), b1 = Double(row1[x1 + c])
            let v2 = hasRow1 ? a1 + (b1 - a1) * dx : v1
            let v = v1 + (v2 - v1) * dy
            o[c] = UInt8(truncatingIfNeeded: Int(v))
        }
    }

    /// Pillow's BICUBIC transform kernel (a = −1 cubic, `BICUBIC` macro), clamped and truncated to uint8.
    @inline(__always)
    static func cubic(_ v1: Double, _ v2: Double, _ v3: Double, _ v4: Double, _ d: Double) -> Double {
        let p1 = v2
        let p2 = -v1 + v3
        let p3 = 2 * (v1 - v2) + v3 - v4
        let p4 = -v1 + v2 - v3 + v4
        return p1 + d * (p2 + d * (p3 + d * p4))
    }

    /// The same on one row of uint8 samples: Pillow evaluates p2…p4 in int before converting.
    @inline(__always)
    static func cubicRow(_ p: UnsafeMutablePointer<UInt8>, _ x0: Int, _ x1: Int, _ x2: Int, _ x3: Int,
                         _ d: Double) -> Double {
        let v1 = Int(p[x0]), v2 = Int(p[x1]), v3 = Int(p[x2]), v4 = Int(p[x3])
        let p2 = Double(-v1 + v3)
        let p3 = Double(2 * (v1 - v2) + v3 - v4)
        let p4 = Double(-v1 + v2 - v3 + v4)
        return Double(v2) + d * (p2 + d * (p3 + d * p4))
    }

    @inline(__always)
    static func bicubic(_ o: UnsafeMutablePointer<UInt8>, _ pixels: UnsafeMutablePointer<UInt8>, _ w: Int, _ h: Int,
                        _ xin0: Double, _ yin0: Double) {
        let xin = xin0 - 0.5, yin = yin0 - 0.5
        let xf = xin.rounded(.down), yf = yin.rounded(.down)
        let x = Int(xf) - 1, y = Int(yf) - 1
        let dx = xin - xf, dy = yin - yf
        let c0 = clampX(x, w) * 3, c1 = clampX(x + 1, w) * 3, c2 = clampX(x + 2, w) * 3, c3 = clampX(x + 3, w) * 3
        let stride = w * 3
        let r0 = pixels + clampX(y, h) * stride
        let has1 = y + 1 >= 0 && y + 1 < h, has2 = y + 2 >= 0 && y + 2 < h, has3 = y + 3 >= 0 && y + 3 < h
        for c in 0 ..< 3 {
            let v1 = cubicRow(r0 + c, c0, c1, c2, c3, dx)
            let v2 = has1 ? cubicRow(pixels + (y + 1) * stride + c, c0, c1, c2, c3, dx) : v1
            let v3 = has2 ? cubicRow(pixels + (y + 2) * stride + c, c0, c1, c2, c3, dx) : v2
            let v4 = has3 ? cubicRow(pixels + (y + 3) * stride + c, c0, c1, c2, c3, dx) : v3
            let v = cubic(v1, v2, v3, v4, dy)
            o[c] = v <= 0 ? 0 : (v >= 255 ? 255 : UInt8(truncatingIfNeeded: Int(v)))
        }
    }

    /// Python's `round(x, 15)` (to 15 decimals), as PIL's `rotate` applies to cos/sin.
    static func round15(_ x: Double) -> Double { (x * 1e15).rounded(.toNearestOrEven) / 1e15 }

    /// The inverse affine matrix of PIL's `Image.rotate(degrees)` about the centre (no expand/translate).
    public static func rotationMatrix(degrees: Double, width: Int, height: Int)
        -> (Double, Double, Double, Double, Double, Double) {
        var angle = degrees.truncatingRemainder(dividingBy: 360)
        if angle < 0 { angle += 360 } // Python's % takes the sign of the divisor
        let rad = -(angle * (Double.pi / 180))
        let c = round15(cos(rad)), s = round15(sin(rad)), ms = round15(-sin(rad))
        let cx = Double(width) / 2, cy = Double(height) / 2
        var m2 = c * -cx + s * -cy + 0.0
        var m5 = ms * -cx + c * -cy + 0.0
        m2 += cx
        m5 += cy
        return (c, s, m2, ms, c, m5)
    }
}
