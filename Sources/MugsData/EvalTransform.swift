import Foundation
import MugsModel
import SafeTensors

/// The evaluation transform of kNN/linear probe/embedding (DINO's `Resize(256, bicubic)`,
/// `CenterCrop(224)`, `Normalize`, generalised to any size S): shorter side → ⌊S / 0.875⌋ with PIL bicubic
/// (longer side `int(short · long / short_in)` as torchvision computes it), centre crop S × S (offsets
/// `round((H − S)/2)`, half-even), ImageNet normalisation.
public final class EvalTransform: @unchecked Sendable {
    public let size: Int
    public let resizeTo: Int
    public let normalization: Normalization
    let resampler = Resampler()
    let resized = RGBImage()

    public init(size: Int, normalization: Normalization = .imagenet) {
        precondition(size > 0, "eval size must be positive")
        self.size = size
        resizeTo = Int((Double(size) / 0.875).rounded(.down))
        self.normalization = normalization
    }

    /// Decoder down-scaling allowance: keep at least 2× the resize target on the shorter side.
    public var decodeMinimumArea: Int { 4 * resizeTo * resizeTo * 4 / 3 }

    /// Writes the transformed image (3·S·S floats) to `out`.
    public func apply(_ image: RGBImage, to out: UnsafeMutablePointer<Float>) {
        let w = image.width, h = image.height
        let (nw, nh): (Int, Int) = w <= h ? (resizeTo, Int(Double(resizeTo) * Double(h) / Double(w)))
                                          : (Int(Double(resizeTo) * Double(w) / Double(h)), resizeTo)
        resampler.resizedCrop(resized, image, top: 0, left: 0, cropHeight: h, cropWidth: w, outWidth: nw, outHeight: nh)
        let top = Int((Double(nh - size) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(nw - size) / 2).rounded(.toNearestOrEven))
        let crop = RGBImage(width: size, height: size)
        if nh >= size && nw >= size {
            for y in 0 ..< size {
                (crop.pixels + y * size * 3).update(from: resized.pixels + ((top + y) * nw + left) * 3, count: size * 3)
            }
        } else {
            // torchvision pads with zeros when the image is smaller than the crop (only for tiny inputs).
            crop.pixels.update(repeating: 0, count: crop.byteCount)
            for y in 0 ..< size {
                let sy = top + y
                if sy < 0 || sy >= nh { continue }
                for x in 0 ..< size {
                    let sx = left + x
                    if sx < 0 || sx >= nw { continue }
                    for c in 0 ..< 3 { crop.pixels[(y * size + x) * 3 + c] = resized.pixels[(sy * nw + sx) * 3 + c] }
                }
            }
        }
        normalization.write(crop, to: out)
    }
}

/// Eval-transformed batches `[N, 3, S, S]` of a dataset, for `mugs embed --data` and kNN.
public enum EvalBatches {
    /// Calls `body(images [n, 3, S, S], labels [n], first index)` for consecutive batches of `batchSize`
    /// images (the last may be shorter), decoding on up to `threads` threads. Unreadable images are skipped and
    /// returned (name, reason); labels stay aligned with the images actually delivered.
    @discardableResult
    public static func forEach(dataset: ImageDataset, size: Int, batchSize: Int, threads: Int = 1,
                               limit: Int? = nil,
                               _ body: (HostTensor, [Int], Int) throws -> Void) throws -> [(String, String)] {
        let total = min(limit ?? dataset.count, dataset.count)
        let per = 3 * size * size
        let workers = max(1, threads)
        let transforms = (0 ..< workers).map { _ in EvalTransform(size: size) }
        var bad: [(String, String)] = []
        let lock = NSLock()
        var start = 0
        while start < total {
            let n = min(batchSize, total - start)
            var data = [Float](repeating: 0, count: n * per)
            var ok = [Bool](repeating: false, count: n)
            data.withUnsafeMutableBufferPointer { dp in
                ok.withUnsafeMutableBufferPointer { okp in
                    let d = dp.baseAddress!, okb = okp.baseAddress!
                    DispatchQueue.concurrentPerform(iterations: workers) { w in
                        let image = RGBImage()
                        var buffer: [UInt8] = []
                        var i = w
                        while i < n {
                            do {
                                try dataset.load(start + i, into: image, minimumArea: transforms[w].decodeMinimumArea,
                                                 buffer: &buffer)
                                transforms[w].apply(image, to: d + i * per)
                                okb[i] = true
                            } catch {
                                lock.lock()
                                bad.append((dataset.name(start + i), (error as? DataError)?.hint ?? "\(error)"))
                                lock.unlock()
                            }
                            i += workers
                        }
                    }
                }
            }
            let good = (0 ..< n).filter { ok[$0] }
            var packed = [Float](); packed.reserveCapacity(good.count * per)
            for i in good { packed.append(contentsOf: data[i * per ..< (i + 1) * per]) }
            if !good.isEmpty {
                try body(HostTensor(shape: [good.count, 3, size, size], data: packed), good.map { dataset.label(start + $0) },
                         start)
            }
            start += n
        }
        return bad
    }
}
