import Sampling
/// One training batch of multi-crop views, laid out as the training step reads them. Allocated once
/// (64-byte aligned) and refilled by the loader; every tensor is Float32, normalised, row-major:
///
///     teacherGlobal  [2][B, 3, G, G]   the teacher's two weak global crops
///     studentGlobal  [2][B, 3, G, G]   the student's global crops (weak or strong per image, see `weak`)
///     studentLocal   [L][B, 3, l, l]   the student's local crops
///     weak           [B]               1 when the student's global crops of image b are weak
///     labels         [B]               class index (kNN/probe only; unused by pretraining)
///     sampleIndex    [B]               dataset index of each image (the key of its randomness)
///     dropPathSeed   [B]               per-image seed for stochastic depth (`SampleRNG` stream
///                                      `.stochasticDepth`)
public final class CropBatch: @unchecked Sendable {
    public let B: Int, G: Int, l: Int, L: Int
    public let teacherGlobal: UnsafeMutablePointer<Float>
    public let studentGlobal: UnsafeMutablePointer<Float>
    public let studentLocal: UnsafeMutablePointer<Float>
    public let weak: UnsafeMutablePointer<UInt8>
    public let labels: UnsafeMutablePointer<Int32>
    public let sampleIndex: UnsafeMutablePointer<Int64>
    public let dropPathSeed: UnsafeMutablePointer<UInt64>
    /// Epoch of the plan this batch was filled for, and the caller's tag (e.g. the step).
    public internal(set) var epoch: Int = 0
    public internal(set) var tag: Int = 0
    /// Number of valid samples (≤ B; the last batch of an epoch may be short when not dropped).
    public internal(set) var count: Int = 0

    public init(batchSize B: Int, globalSize G: Int, localSize l: Int, localCount L: Int) {
        precondition(B > 0 && G > 0 && l > 0 && L >= 0, "bad batch geometry B=\(B) G=\(G) l=\(l) L=\(L)")
        self.B = B; self.G = G; self.l = l; self.L = L
        func floats(_ n: Int) -> UnsafeMutablePointer<Float> {
            let raw = UnsafeMutableRawPointer.allocate(byteCount: max(n, 1) * 4, alignment: 64)
            let p = raw.bindMemory(to: Float.self, capacity: max(n, 1))
            p.initialize(repeating: 0, count: max(n, 1))
            return p
        }
        teacherGlobal = floats(2 * B * 3 * G * G)
        studentGlobal = floats(2 * B * 3 * G * G)
        studentLocal = floats(L * B * 3 * l * l)
        weak = .allocate(capacity: B); weak.initialize(repeating: 0, count: B)
        labels = .allocate(capacity: B); labels.initialize(repeating: 0, count: B)
        sampleIndex = .allocate(capacity: B); sampleIndex.initialize(repeating: 0, count: B)
        dropPathSeed = .allocate(capacity: B); dropPathSeed.initialize(repeating: 0, count: B)
    }

    public convenience init(batchSize: Int, config: MultiCropConfig) {
        self.init(batchSize: batchSize, globalSize: config.globalSize, localSize: config.localSize,
                  localCount: config.localCount)
    }

    deinit {
        UnsafeMutableRawPointer(teacherGlobal).deallocate()
        UnsafeMutableRawPointer(studentGlobal).deallocate()
        UnsafeMutableRawPointer(studentLocal).deallocate()
        weak.deallocate(); labels.deallocate(); sampleIndex.deallocate(); dropPathSeed.deallocate()
    }

    /// Floats per global / local crop of one image.
    public var globalCropFloats: Int { 3 * G * G }
    public var localCropFloats: Int { 3 * l * l }

    /// Teacher global crop `c` (0, 1) of every image: [B, 3, G, G].
    public func teacherGlobal(_ c: Int) -> UnsafeMutablePointer<Float> { teacherGlobal + c * B * globalCropFloats }
    /// Student global crop `c` (0, 1) of every image: [B, 3, G, G].
    public func studentGlobal(_ c: Int) -> UnsafeMutablePointer<Float> { studentGlobal + c * B * globalCropFloats }
    /// Student local crop `c` (0 ..< L) of every image: [B, 3, l, l].
    public func studentLocal(_ c: Int) -> UnsafeMutablePointer<Float> { studentLocal + c * B * localCropFloats }

    /// Where image `b`'s crops go.
    public func destinations(sample b: Int) -> CropDestinations {
        CropDestinations(teacher: (teacherGlobal(0) + b * globalCropFloats, teacherGlobal(1) + b * globalCropFloats),
                         student: (studentGlobal(0) + b * globalCropFloats, studentGlobal(1) + b * globalCropFloats),
                         local: studentLocal + b * localCropFloats, localStride: B * localCropFloats, localCount: L)
    }
}

/// The output slots of one image's crops (pointers into a `CropBatch` or any buffers of the same shapes).
public struct CropDestinations {
    public var teacher: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)
    public var student: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)
    /// Local crop k lives at `local + k * localStride`.
    public var local: UnsafeMutablePointer<Float>
    public var localStride: Int
    public var localCount: Int

    public init(teacher: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>),
                student: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>),
                local: UnsafeMutablePointer<Float>, localStride: Int, localCount: Int) {
        self.teacher = teacher; self.student = student
        self.local = local; self.localStride = localStride; self.localCount = localCount
    }
}
