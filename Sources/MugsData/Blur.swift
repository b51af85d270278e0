import Foundation

/// PIL's `ImageFilter.GaussianBlur(radius)` (Pillow `libImaging/BoxBlur.c`), bit-exact: three passes of an
/// "extended box" blur per axis (Gwosdek et al. 2011) whose fractional radius matches the Gaussian's
/// variance, in 24-bit fixed point with edge pixels repeated; horizontal passes, then vertical passes.
public final class BoxBlur: @unchecked Sendable {
    private var line: [UInt8] = []
    private var acc: [UInt32] = []
    private let scratch = RGBImage()

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
        let rowBytes = w * 3
        if line.count < rowBytes * 2 { line = [UInt8](repeating: 0, count: rowBytes * 2) }
        if acc.count < rowBytes { acc = [UInt32](repeating: 0, count: rowBytes) }
        line.withUnsafeMutableBufferPointer { lb in
            acc.withUnsafeMutableBufferPointer { ab in
                let a = lb.baseAddress!, b = a + rowBytes, accp = ab.baseAddress!
                // Horizontal: each row `passes` times (samples are pixels, lanes the 3 channels).
                for y in 0 ..< h {
                    let row = img.pixels + y * rowBytes
                    var src = UnsafeMutablePointer(row), dst = a
                    for _ in 0 ..< passes {
                        BoxBlur.line(dst, src, count: w, stride: 3, lanes: 3, radius: radius, ww: ww, fw: fw, acc: accp)
                        src = dst
                        dst = dst == a ? b : a
                    }
                    row.update(from: src, count: rowBytes)
                }
                // Vertical: samples are rows, lanes every byte of a row (PIL transposes; same arithmetic).
                scratch.reshape(width: w, height: h)
                var src = img.pixels, dst = scratch.pixels
                for _ in 0 ..< passes {
                    BoxBlur.line(dst, src, count: h, stride: rowBytes, lanes: rowBytes, radius: radius, ww: ww, fw: fw,
                                 acc: accp)
                    swap(&src, &dst)
                }
                if src != img.pixels { img.pixels.update(from: src, count: rowBytes * h) }
            }
        }
    }

    /// Pillow `ImagingLineBoxBlur32` over `count` samples of `lanes` independent bytes each (sample i, lane l at
    /// `inp[i * stride + l]`), unsigned 32-bit wrap-around arithmetic as in C.
    @inline(__always)
    static func line(_ out: UnsafeMutablePointer<UInt8>, _ inp: UnsafeMutablePointer<UInt8>, count: Int, stride: Int,
                     lanes: Int, radius: Int, ww: UInt32, fw: UInt32, acc: UnsafeMutablePointer<UInt32>) {
        let lastx = count - 1
        let edgeA = min(radius + 1, count), edgeB = max(count - radius - 1, 0)
        let r1 = UInt32(radius + 1), rest = UInt32(truncatingIfNeeded: radius - edgeA + 1)
        for l in 0 ..< lanes { acc[l] = UInt32(inp[l]) &* r1 }
        var x = 0
        while x < edgeA - 1 {
            let p = inp + x * stride
            for l in 0 ..< lanes { acc[l] &+= UInt32(p[l]) }
            x += 1
        }
        let last = inp + lastx * stride
        for l in 0 ..< lanes { acc[l] &+= UInt32(last[l]) &* rest }
        // One output sample: acc += in[add] − in[sub]; out = (acc·ww + (in[left] + in[right])·fw + 2²³) >> 24.
        @inline(__always) func step(_ x: Int, _ sub: Int, _ add: Int, _ left: Int, _ right: Int) {
            let ps = inp + sub * stride, pa = inp + add * stride
            let pl = inp + left * stride, pr = inp + right * stride, o = out + x * stride
            for l in 0 ..< lanes {
                let v = acc[l] &+ UInt32(pa[l]) &- UInt32(ps[l])
                acc[l] = v
                let bulk = v &* ww &+ (UInt32(pl[l]) &+ UInt32(pr[l])) &* fw
                o[l] = UInt8(truncatingIfNeeded: (bulk &+ (1 << 23)) >> 24)
            }
        }
        if edgeA <= edgeB {
            x = 0
            while x < edgeA { step(x, 0, x + radius, 0, x + radius + 1); x += 1 }
            while x < edgeB { step(x, x - radius - 1, x + radius, x - radius - 1, x + radius + 1); x += 1 }
            while x <= lastx { step(x, x - radius - 1, lastx, x - radius - 1, lastx); x += 1 }
        } else {
            x = 0
            while x < edgeB { step(x, 0, x + radius, 0, lastx); x += 1 }
            while x < edgeA { step(x, 0, lastx, 0, lastx); x += 1 }
            while x <= lastx { step(x, x - radius - 1, lastx, x - radius - 1, lastx); x += 1 }
        }
    }
}
