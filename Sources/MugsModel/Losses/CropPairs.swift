/// Which (teacher crop t, student crop v) pairs a Mugs loss compares and with what weight.
///
/// Reference: the loops in `InfoNCELoss.forward` and `ClusteringLoss.forward` (sail-sg/mugs `src/loss.py`): every
/// student crop v against each of the 2 teacher crops t, skipping v == t; a term goes into the "large" average when
/// v < 2 (global crops) and into the "small" one otherwise; the loss is 0.5·(large mean + small mean). With 2 global
/// and L local student crops there are 2 large pairs and 2L small ones, so each pair's weight in the per-image loss
/// is 1/4 (global) or 1/(4L) (local). L ≥ 1 (the reference divides by zero otherwise).
public enum CropPairs {
    /// Teacher crops per image.
    public static let teacherCrops = 2
    /// Global student crops per image.
    public static let globalCrops = 2

    /// ω(t, v): weight of the term comparing student crop v with teacher crop t in the per-image loss.
    @inline(__always)
    public static func weight(teacher t: Int, student v: Int, localCrops L: Int) -> Float {
        if t == v { return 0 }
        if v < globalCrops { return 0.5 / Float(globalCrops * teacherCrops - min(globalCrops, teacherCrops)) }
        return 0.5 / Float(teacherCrops * L)
    }
}
