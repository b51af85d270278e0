/// A config file or value a person has to fix. The description names the file, line and field.
public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Reason: Equatable, Sendable {
        /// The line is not `key: value` (with optional `# comment`).
        case syntax(String)
        /// No such field; `suggestion` is the closest known name.
        case unknownField(suggestion: String?)
        case duplicateField(firstLine: Int)
        /// The value has the wrong type or is out of range; `allowed` says what is accepted.
        case invalidValue(String, allowed: String)
        /// A combination of fields that cannot work together.
        case inconsistent(String)
        case unknownPreset(known: [String])
        case unreadable(String)
    }

    public let reason: Reason
    /// The file (or `<preset NAME>` / `<string>`).
    public let source: String
    /// 1-based line number, 0 when the error is not about one line.
    public let line: Int
    /// The field concerned, "" if none.
    public let field: String

    public init(_ reason: Reason, source: String, line: Int = 0, field: String = "") {
        self.reason = reason
        self.source = source
        self.line = line
        self.field = field
    }

    public var description: String {
        let at = line > 0 ? "\(source):\(line)" : source
        switch reason {
        case let .syntax(what): return "\(at): \(what)"
        case let .unknownField(suggestion):
            let hint = suggestion.map { " (did you mean '\($0)'?)" } ?? ""
            return "\(at): unknown field '\(field)'\(hint)"
        case let .duplicateField(first): return "\(at): field '\(field)' is set twice (first on line \(first))"
        case let .invalidValue(value, allowed):
            return "\(at): field '\(field)' has value '\(value)'; allowed: \(allowed)"
        case let .inconsistent(what): return "\(at): \(field.isEmpty ? "" : "field '\(field)': ")\(what)"
        case let .unknownPreset(known):
            return "\(at): unknown preset '\(field)'; known presets: \(known.joined(separator: ", "))"
        case let .unreadable(why): return "\(at): cannot read the config: \(why)"
        }
    }
}
