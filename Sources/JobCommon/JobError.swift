/// An error for the person running a daemon: what, what is wrong with it, and what to do.
public struct JobError: Error, CustomStringConvertible, Sendable {
    public var what: String
    public var problem: String
    public var hint: String?

    public init(_ what: String, _ problem: String, hint: String? = nil) {
        self.what = what; self.problem = problem; self.hint = hint
    }

    public var description: String { "\(what): \(problem)" + (hint.map { " (\($0))" } ?? "") }
}
