/// Read access to a forward pass's intermediate results for evaluation tools (linear probe on the last blocks'
/// [CLS] tokens, attention maps), as the reference's `get_intermediate_layers` and `get_last_selfattention` expose
/// them. Valid after `VisionTransformer.forward` on these activations, until the next forward.
extension ViTActivations {
    /// Number of transformer blocks these activations were planned for.
    public var blockCount: Int { blocks.count }

    /// Output tokens (B, T, C) of block `l` (0-based), before the final norm.
    public func blockOutput(_ l: Int) -> UnsafePointer<Float> {
        precondition(l >= 0 && l < blocks.count, "block \(l) outside 0..<\(blocks.count)")
        return UnsafePointer(blocks[l].output.pointer)
    }

    /// Attention probabilities (B, H, T, T) of block `l`: row t of head h of sample b is softmax(q_t·Kᵀ·D^−½).
    public func attentionProbabilities(block l: Int) -> UnsafePointer<Float> {
        precondition(l >= 0 && l < blocks.count, "block \(l) outside 0..<\(blocks.count)")
        return UnsafePointer(blocks[l].probs.pointer)
    }
}
