/// What the LOCAL part of a Mugs step hands to the all-reduce and the all-gather (DESIGN §3).
///
/// The fused buffer is one `ParameterBuffer` laid out as the student network's layout (its gradients, same names and
/// offsets as the parameters) followed by two named tensors:
///
///     [ student gradients (student layout, padding included) | fused.center_sums [P] | fused.loss_sums [3] ]
///
/// * gradients: ∂/∂θ of (1/B)·Σ_{i∈slice} Σ_j (w_j/Σw)·ℓ_{j,i} — summing the slices of all ranks gives the
///   gradient of the weighted mean loss over the global batch of B images (raw: before clipping and before
///   freeze_last_layer);
/// * center_sums: Σ over the slice's 2·b teacher crops of the teacher group logits (APPLY divides by 2·B);
/// * loss_sums: Σ_{i∈slice} ℓ_i of the instance, local-group and group losses (APPLY divides by B).
///
/// The whole buffer is summed element-wise by the all-reduce; padding stays zero.
public struct FusedLayout: Sendable {
    public static let centerSums = "fused.center_sums"
    public static let lossSums = "fused.loss_sums"
    /// Order of the three losses in `fused.loss_sums`.
    public enum Loss: Int, CaseIterable, Sendable { case instance = 0, localGroup = 1, group = 2 }

    public let layout: ParameterLayout
    /// Floats of the gradient part (the student layout's count, padding included).
    public let gradientCount: Int

    public init(student: ParameterLayout, prototypes P: Int) {
        var l = student
        gradientCount = student.count
        l.add(Self.centerSums, [P])
        l.add(Self.lossSums, [Loss.allCases.count])
        layout = l
    }
}

/// The LOCAL part's outputs: the fused buffer and the slice's queue/memory entries (`StepEntries`, the APPLY
/// part's type: teacher targets crop-major, memory features of crop 0 of every image, weak flags).
public final class StepBuffers: @unchecked Sendable {
    public let fusedLayout: FusedLayout
    public let fused: ParameterBuffer
    public let entries: StepEntries

    public init(fusedLayout: FusedLayout, entries: StepEntries) {
        self.fusedLayout = fusedLayout
        fused = ParameterBuffer(layout: fusedLayout.layout)
        self.entries = entries
    }

    /// Σ_{i∈slice} ℓ_i of one loss.
    public func lossSum(_ loss: FusedLayout.Loss) -> Float { fused[FusedLayout.lossSums][loss.rawValue] }
}
