/// Why an evaluation, export or attention command could not run: a sentence for a person that names the file,
/// tensor, option or dataset at fault and, where there is one, what to do about it.
public struct EvalError: Error, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// A checkpoint, weights or feature file is missing, unreadable or does not hold what is needed.
        case weights
        /// A feature set or dataset is empty, mis-shaped or inconsistent (labels, dimensions).
        case input
        /// An option has an unusable value (k ≤ 0, temperature ≤ 0, sizes).
        case configuration
        /// A file could not be written.
        case output
    }

    public let kind: Kind
    public let description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}
