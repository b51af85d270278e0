/// Bad input to a training step, named for the person who supplied it.
public struct TrainStepError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What was wrong (a crop tensor, the weak flags, a mask, the configuration).
    public let what: String
    public let detail: String

    public init(_ what: String, _ detail: String) { self.what = what; self.detail = detail }

    public var description: String { "training step: \(what): \(detail)" }
}
