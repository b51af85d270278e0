import Foundation

/// PIL's `ImageFilter.GaussianBlur(radius)` (Pillow `libImaging/BoxBlur.c`), bit-exact: three passes of an
/// "extended box" blur per axis (Gwosdek et al. 2011) whose fractional radius matches the Gaussian's
/// variance, in 24-bit fixed point with edge pixels repeated; horizontal passes, then vertical passes.
public final class BoxBlur: @unchecked Sendable {
    private var line: [UInt8] = []
    private var column: [UInt8] = []

    public init() {}

    /// The extended-box radius PIL uses for a Gaussian of `radius` (σ) split over `passes` (float math).
    public static func boxRadius(gaussian radius: Float, passes: Int = 3) -> Float {
        let sigma2: Float = radius * radius / Float(passes)
        let L = Float((12.0 * Double(sigma2) + 1.0).squareRoot())
        let l = Float(((Double(L) - 1.0) / 2.0).rounded(.down))
        var a: Float = (2 * l + 1) * (l * (l + 1) - 3 * sigma2)
        a /= 6 * (sigma2 - (l + 1) * (l + 1))
        return l + a
    }

    /// In-place Gaussian blur of radius σ (PIL semantics).
    public func gaussian(_ img: RGBImage, radius: Double) {
        let r = BoxBlur.boxRadius(gaussian: Float(radius))
        box(img, radius: r, passes: 3)
    }

    /// In-place extended box blur with a fractional radius, `passes` times per axis.
    public func box(_ img: RGBImage, radius floatRadius: Float, passes: Int) {
        if floatRadius == 0 { return }
        let w = img.width, h = img.height
        if w == 0 || h == 0 { return }
        let radius = Int(floatRadius)
        let ww = UInt32(Float(1 << 24) / (floatRadius * 2 + 1))
        let fw = UInt32((UInt32(1 << 24) &- UInt32(radius * 2 + 1) &* ww) / 2)
        let n = max(w, h)
        if line.count < n * 3 { line = [UInt8](repeating: 0, count: n * 3) }
        if column.count < n * 3 { column = [UInt8](repeating: 0, count: n * 3) }
        line.withUnsafeMutableBufferPointer { lb in
            column.withUnsafeMutableBufferPointer { cb in
                let out = lb.baseAddress!, col = cb.baseAddress!
                // Horizontal: each row, `passes` times.
                for y in 0 ..< h {
                    let row = img.pixels + y * w * 3
                    for _ in 0 ..< passes {
                        BoxBlur.line(out, row, count: w, radius: radius, ww: ww, fw: fw)
                        row.update(from: out, count: w * 3)
                    }
                }
                // Vertical: gather a column, blur it `passes` times, scatter back (PIL transposes).
                for x in 0 ..< w {
                    for y in 0 ..< h {
                        let p = img.pixels + (y * w + x) * 3
                        col[3 * y] = p[0]; col[3 * y + 1] = p[1]; col[3 * y + 2] = p[2]
                    }
                    for _ in 0 ..< passes {
                        BoxBlur.line(out, col, count: h, radius: radius, ww: ww, fw: fw)
                        col.update(from: out, count: h * 3)
                    }
                    for y in 0 ..< h {
                        let p = img.pixels + (y * w + x) * 3
                        p[0] = col[3 * y]; p[1] = col[3 * y + 1]; p[2] = col[3 * y + 2]
                    }
                }
            }
        }
    }

    /// Pillow `ImagingLineBoxBlur32` over `count` RGB pixels (3 channels, unsigned 32-bit wrap-around
    /// arithmetic as in C).
    @inline(__always)
    static func line(_ out: UnsafeMutablePointer<UInt8>, _ inp: UnsafeMutablePointer<UInt8>, count: Int, radius: Int,
                     ww: UInt32, fw: UInt32) {
        let lastx = count - 1
        let edgeA = min(radius + 1, count), edgeB = max(count - radius - 1, 0)
        for c in 0 ..< 3 {
            @inline(__always) func px(_ i: Int) -> UInt32 { UInt32(inp[3 * i + c]) }
            var acc: UInt32 = px(0) &* UInt32(radius + 1)
            var x = 0
            while x < edgeA - 1 { acc &+= px(x); x += 1 }
            acc &+= px(lastx) &* UInt32(truncatingIfNeeded: radius - edgeA + 1)
            @inline(__always) func save(_ x: Int, _ left: Int, _ right: Int) {
                let bulk = acc &* ww &+ (px(left) &+ px(right)) &* fw
                out[3 * x + c] = UInt8(truncatingIfNeeded: (bulk &+ (1 << 23)) >> 24)
            }
            if edgeA <= edgeB {
                x = 0
                while x < edgeA { acc = acc &+ px(x + radius) &- px(0); save(x, 0, x + radius + 1); x += 1 }
                while x < edgeB {
                    acc = acc &+ px(x + radius) &- px(x - radius - 1); save(x, x - radius - 1, x + radius + 1); x += 1
                }
                while x <= lastx { acc = acc &+ px(lastx) &- px(x - radius - 1); save(x, x - radius - 1, lastx); x += 1 }
            } else {
                x = 0
                while x < edgeB { acc = acc &+ px(x + radius) &- px(0); save(x, 0, lastx); x += 1 }
                while x < edgeA { acc = acc &+ px(lastx) &- px(0); save(x, 0, lastx); x += 1 }
                while x <= lastx { acc = acc &+ px(lastx) &- px(x - radius - 1); save(x, x - radius - 1, lastx); x += 1 }
            }
        }
    }
}
