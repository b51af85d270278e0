/// A training state, checkpoint or step input that does not fit: names what and where.
public struct TrainStateError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Reason: Equatable, Sendable {
        case missingTensor(String)
        case unexpectedTensor(String)
        case shapeMismatch(String, expected: [Int], found: [Int])
        case badValue(String)
        case io(String)
        case notFound(String)
    }

    public let reason: Reason
    /// Human detail: the file, the field, what to do.
    public let detail: String

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String {
        switch reason {
        case let .missingTensor(name): return "missing tensor '\(name)': \(detail)"
        case let .unexpectedTensor(name): return "unexpected tensor '\(name)': \(detail)"
        case let .shapeMismatch(name, expected, found):
            return "tensor '\(name)' has shape \(found), expected \(expected): \(detail)"
        case let .badValue(what): return "\(what): \(detail)"
        case let .io(what): return "\(what): \(detail)"
        case let .notFound(what): return "\(what) not found: \(detail)"
        }
    }
}
