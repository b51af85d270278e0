/// Why `BackboneEmbedder` (and `mugs embed`) could not load weights or embed images: a sentence for a person that
/// names the file and the tensor or option at fault.
public struct EmbedError: Error, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// The weights file has no backbone, or its tensors do not fit the architecture (names, shapes, depth).
        case weights
        /// The input tensor is missing or has an unusable shape.
        case input
        /// A file could not be read or written (the underlying safetensors error is in the message).
        case file
        /// The architecture or options are invalid.
        case configuration
    }

    public let kind: Kind
    public let description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}
