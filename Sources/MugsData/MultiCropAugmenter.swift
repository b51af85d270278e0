import MugsModel
import Sampling

/// Turns one decoded image into the Mugs crop set, exactly as the reference's `DataAugmentation.__call__`
/// composes it (see docs/DATA.md for the derivation):
///
///     teacher 0   weak global, blur p=1.0                     (global_transfo1)
///     teacher 1   weak global, blur p=0.1, solarize p=0.2     (global_transfo2)
///     weak ← U(0,1) ≤ prob
///     student 0,1 weak: fresh global_transfo1 / global_transfo2 draws (not copies of the teacher's)
///                 strong: two independent strong global crops (global_transfo3)
///     local k     U(0,1) ≤ prob ? weak local (blur p=0.5) : strong local
///
/// weak  = RandomResizedCrop(bicubic) → flip → ColorJitter (p=0.8, random order) → grayscale (p=0.2) → blur…
/// strong = flip (full image) → RandAugment (full image) → RandomResizedCrop(bicubic) → RandomErasing (p=0.25)
///
/// Every random choice comes from the caller's generator, so the crops of an image are a pure function of
/// (seed, epoch, index). One augmenter per thread (it owns scratch images).
public final class MultiCropAugmenter: @unchecked Sendable {
    public let config: MultiCropConfig
    let randAugment: RandAugment
    let erasing: RandomErasing
    let globalCrop: RandomResizedCrop, localCrop: RandomResizedCrop
    let resampler = Resampler()
    let blur = BoxBlur()
    let crop = RGBImage(), full = RGBImage(), scratch = RGBImage()

    public init(config: MultiCropConfig) throws {
        self.config = config
        randAugment = try RandAugment(config: config.randAugment)
        erasing = RandomErasing(probability: config.erasingProbability, inPixelSpace: config.erasingInPixelSpace)
        globalCrop = RandomResizedCrop(scale: config.globalScale, ratio: config.ratio)
        localCrop = RandomResizedCrop(scale: config.localScale, ratio: config.ratio)
        guard config.globalSize > 0, config.localSize > 0, config.localCount >= 0 else {
            throw DataError(.badConfig, "crop sizes \(config.globalSize)/\(config.localSize)/\(config.localCount)",
                            hint: "sizes must be positive and the local count non-negative")
        }
    }

    /// Which weak variant: the two global ones differ in blur/solarize, local ones blur with p=0.5.
    enum WeakKind { case global1, global2, local }

    /// Writes all crops of `image` to `out`; returns the `weak` flag.
    @discardableResult
    public func augment(_ image: RGBImage, rng: inout SampleRNG, into out: CropDestinations) -> Bool {
        let G = config.globalSize, l = config.localSize
        weakCrop(image, kind: .global1, size: G, rng: &rng, to: out.teacher.0)
        weakCrop(image, kind: .global2, size: G, rng: &rng, to: out.teacher.1)
        var weak = false
        if config.vanillaWeak {
            out.student.0.update(from: out.teacher.0, count: 3 * G * G)
            out.student.1.update(from: out.teacher.1, count: 3 * G * G)
            weak = true
        } else if config.weakProbability < 1 && rng.uniform() > config.weakProbability {
            strongCrop(image, box: globalCrop, size: G, rng: &rng, to: out.student.0)
            strongCrop(image, box: globalCrop, size: G, rng: &rng, to: out.student.1)
        } else {
            weakCrop(image, kind: .global1, size: G, rng: &rng, to: out.student.0)
            weakCrop(image, kind: .global2, size: G, rng: &rng, to: out.student.1)
            weak = true
        }
        for k in 0 ..< out.localCount {
            let dst = out.local + k * out.localStride
            if config.weakProbability < 1 && rng.uniform() > config.weakProbability {
                strongCrop(image, box: localCrop, size: l, rng: &rng, to: dst)
            } else {
                weakCrop(image, kind: .local, size: l, rng: &rng, to: dst)
            }
        }
        return weak
    }

    func weakCrop(_ image: RGBImage, kind: WeakKind, size: Int, rng: inout SampleRNG, to dst: UnsafeMutablePointer<Float>) {
        let b = (kind == .local ? localCrop : globalCrop).sample(width: image.width, height: image.height, rng: &rng)
        resampler.resizedCrop(crop, image, top: b.top, left: b.left, cropHeight: b.height, cropWidth: b.width,
                              outWidth: size, outHeight: size)
        if rng.uniform() < config.flipProbability { Geometry.flipHorizontal(crop) }
        if rng.uniform() < config.jitterProbability { colorJitter(crop, rng: &rng) }
        if rng.uniform() < config.grayscaleProbability { ColorOps.grayscale(crop) }
        let blurP: Double
        switch kind {
        case .global1: blurP = config.blurProbability.first
        case .global2: blurP = config.blurProbability.second
        case .local: blurP = config.blurProbability.local
        }
        if rng.uniform() <= blurP {
            blur.gaussian(crop, radius: rng.uniform(config.blurRadius.0, config.blurRadius.1))
        }
        if kind == .global2 && rng.uniform() < config.solarizeProbability { ColorOps.solarize(crop) }
        config.normalization.write(crop, to: dst)
    }

    /// torchvision `ColorJitter(b, c, s, h)`: factors b ~ U(1−b, 1+b), c ~ U(1−c, 1+c), s ~ U(1−s, 1+s),
    /// h ~ U(−h, h), applied in a random permutation order.
    func colorJitter(_ img: RGBImage, rng: inout SampleRNG) {
        var order = (0, 1, 2, 3)
        withUnsafeMutableBytes(of: &order) { raw in
            let o = raw.bindMemory(to: Int.self)
            for i in stride(from: 3, to: 0, by: -1) { o.swapAt(i, rng.int(below: i + 1)) }
        }
        let bf = rng.uniform(max(0, 1 - config.brightness), 1 + config.brightness)
        let cf = rng.uniform(max(0, 1 - config.contrast), 1 + config.contrast)
        let sf = rng.uniform(max(0, 1 - config.saturation), 1 + config.saturation)
        let hf = rng.uniform(-config.hue, config.hue)
        for op in [order.0, order.1, order.2, order.3] {
            switch op {
            case 0: ColorOps.brightness(img, bf)
            case 1: ColorOps.contrast(img, cf)
            case 2: ColorOps.saturation(img, sf)
            default: ColorOps.hue(img, hf)
            }
        }
    }

    func strongCrop(_ image: RGBImage, box: RandomResizedCrop, size: Int, rng: inout SampleRNG,
                    to dst: UnsafeMutablePointer<Float>) {
        // Reference order: flip(full image) → RandAugment(full image) → RandomResizedCrop. The crop box depends
        // only on the image size, so it is drawn first and RandAugment computes just the pixels the crop reads
        // (plus whatever whole-image statistics its ops need): identical crops, far less work.
        let flip = rng.uniform() < config.flipProbability
        let plan = randAugment.plan(rng: &rng)
        let b = box.sample(width: image.width, height: image.height, rng: &rng)
        let regions = randAugment.regions(plan, output: Region(b), width: image.width, height: image.height)
        MultiCropAugmenter.copy(regions[0], of: image, into: full, mirrored: flip)
        for (k, op) in plan.enumerated() { randAugment.apply(op, full, scratch: scratch, region: regions[k + 1]) }
        resampler.resizedCrop(crop, full, top: b.top, left: b.left, cropHeight: b.height, cropWidth: b.width,
                              outWidth: size, outHeight: size)
        config.normalization.write(crop, to: dst)
        erasing.apply(dst, size: size, normalization: config.normalization, rng: &rng)
    }

    /// dst (sized like src) gets `region` of src, or of src mirrored left–right; other pixels are unspecified.
    static func copy(_ r: Region, of src: RGBImage, into dst: RGBImage, mirrored: Bool) {
        let w = src.width
        dst.reshape(width: w, height: src.height)
        for y in r.y0 ..< r.y1 {
            let s = src.pixels + y * w * 3, d = dst.pixels + y * w * 3
            if !mirrored {
                (d + r.x0 * 3).update(from: s + r.x0 * 3, count: (r.x1 - r.x0) * 3)
            } else {
                for x in r.x0 ..< r.x1 {
                    let m = (w - 1 - x) * 3
                    d[3 * x] = s[m]; d[3 * x + 1] = s[m + 1]; d[3 * x + 2] = s[m + 2]
                }
            }
        }
    }

    /// The same strong crop computed the reference's way, on the whole image (for tests of the region logic).
    func strongCropFullImage(_ image: RGBImage, box: RandomResizedCrop, size: Int, rng: inout SampleRNG,
                             to dst: UnsafeMutablePointer<Float>) {
        let flip = rng.uniform() < config.flipProbability
        let plan = randAugment.plan(rng: &rng)
        let b = box.sample(width: image.width, height: image.height, rng: &rng)
        full.copy(from: image)
        if flip { Geometry.flipHorizontal(full) }
        for op in plan { randAugment.apply(op, full, scratch: scratch, region: .full(full.width, full.height)) }
        resampler.resizedCrop(crop, full, top: b.top, left: b.left, cropHeight: b.height, cropWidth: b.width,
                              outWidth: size, outHeight: size)
        config.normalization.write(crop, to: dst)
        erasing.apply(dst, size: size, normalization: config.normalization, rng: &rng)
    }
}
