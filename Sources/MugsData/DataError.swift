/// A data-pipeline error for people: what went wrong, where (a path, spec or value), and what to do.
public struct DataError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        case unreadableImage = "unreadable image"
        case badSpec = "bad dataset spec"
        case notFound = "not found"
        case emptyDataset = "empty dataset"
        case badIDX = "malformed IDX file"
        case io = "I/O error"
        case badConfig = "bad configuration"
        case badIndexCache = "bad index cache"
        case tooManyBadFiles = "too many unreadable images"
        case loaderStopped = "loader stopped"
    }

    public let kind: Kind
    public let subject: String
    public let hint: String

    public init(_ kind: Kind, _ subject: String, hint: String) {
        self.kind = kind
        self.subject = subject
        self.hint = hint
    }

    public var description: String { "\(kind.rawValue): \(subject): \(hint)" }
}
