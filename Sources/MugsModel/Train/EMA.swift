/// The teacher's exponential moving average of the student and the clustering loss's centre update.
///
/// Teacher (sail-sg/mugs main.py, "EMA update for the teacher"): for each teacher tensor and the student
/// tensor of the same name, `t.mul_(m).add_((1 − m)·s)`, i.e. in Float32 `t ← t·m + s·(1−m)` with `m` and
/// `1 − m` each rounded from Double once. The teacher has no prediction heads, so only names present in the
/// teacher's layout are updated; tensors are matched by name, not position. Frozen tensors (`weight_g` with
/// `norm_last_layer`) are averaged too, exactly as the reference's loop over `.parameters()` does.
///
/// Centre (src/loss.py `update_center`): `c ← c·μ + mean·(1−μ)` with `mean` the mean of all teacher group
/// logits of the global batch (2 crops × B images): `Σ / (2B)`, where Σ comes from the all-reduced fused
/// buffer. (The reference averages per-rank means over ranks; with equal slices that is the same mean.)
///
/// Plain Float32 operations in a fixed order: the same bits on every CPU.
public struct TeacherEMA: Sendable {
    /// For each teacher tensor: (teacher offset, student offset, count).
    public let pairs: [(teacher: Int, student: Int, count: Int)]

    /// Matches `teacher` tensors to `student` tensors by name; throws if a teacher tensor has no student
    /// counterpart of the same shape (a programmer or checkpoint error worth a message).
    public init(teacher: ParameterLayout, student: ParameterLayout) throws {
        var pairs: [(Int, Int, Int)] = []
        for (i, spec) in teacher.specs.enumerated() {
            guard let s = student.spec(spec.name), let so = student.offset(of: spec.name) else {
                throw TrainStateError(.missingTensor(spec.name), "the teacher has '\(spec.name)' but the student does not")
            }
            guard s.shape == spec.shape else {
                throw TrainStateError(.shapeMismatch(spec.name, expected: s.shape, found: spec.shape),
                                 "teacher and student shapes differ")
            }
            pairs.append((teacher.offsets[i], so, spec.count))
        }
        self.pairs = pairs
    }

    /// t ← t·m + s·(1−m) for every matched tensor.
    public func update(teacher: ParameterBuffer, student: ParameterBuffer, momentum m: Double,
                       pool: ComputePool = ComputePool(threads: 1)) {
        let a = Float(m), b = Float(1 - m)
        for pair in pairs {
            let t = teacher.base + pair.teacher, s = UnsafePointer(student.base + pair.student)
            // Elementwise: any split over threads gives the same bits.
            pool.parallelFor(pair.count, minChunk: 1 << 15) { r in for j in r { t[j] = t[j] * a + s[j] * b } }
        }
    }

    /// c ← c·μ + (Σ/rows)·(1−μ), elementwise over `count` prototypes.
    public static func updateCenter(_ center: UnsafeMutablePointer<Float>, sums: UnsafePointer<Float>,
                                    rows: Int, count: Int, momentum mu: Double) {
        let a = Float(mu), b = Float(1 - mu), n = Float(rows)
        for j in 0 ..< count { center[j] = center[j] * a + (sums[j] / n) * b }
    }
}
