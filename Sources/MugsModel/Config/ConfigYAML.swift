import Foundation

/// The YAML subset mugs configs use, read strictly and written with a comment per field.
///
/// Subset (docs/CONFIG.md): one `key: value` per line, optionally followed by `# comment`; blank lines and
/// `#` comment lines; an optional leading `---`. Keys are field names (`[a-z0-9_]`), never indented (the
/// config is flat). Values are integers, decimal floats (`0.0008`, `1e-6`), `true`/`false`, strings (bare, or
/// quoted with `"..."` / `'...'`), or a flow list of numbers `[0.25, 1.0]`. An optional first field
/// `preset: NAME` starts from that preset instead of the reference defaults. Anything else — anchors, block
/// lists, multi-line values, unknown or repeated keys, values of the wrong type or out of range — is an
/// error naming the line and the field.
public enum ConfigYAML {
    /// Parses `text` (from `source`, used in error messages) into a validated config.
    public static func parse(_ text: String, source: String = "<string>") throws -> MugsConfig {
        var config = MugsConfig()
        var seen: [String: Int] = [:]
        var sawField = false
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (i, rawLine) in lines.enumerated() {
            let n = i + 1
            var line = String(rawLine)
            if line.hasSuffix("\r") { line.removeLast() }
            let content = try stripComment(line, source: source, line: n)
            if content.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            if !sawField && content.trimmingCharacters(in: .whitespaces) == "---" { continue }
            guard let first = content.first, first != " ", first != "\t" else {
                throw ConfigError(.syntax("indented line; the config is flat (key: value per line)"),
                                  source: source, line: n)
            }
            guard let colon = content.firstIndex(of: ":") else {
                throw ConfigError(.syntax("expected 'key: value', found '\(content)'"), source: source, line: n)
            }
            let key = String(content[..<colon])
            let value = content[content.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, key.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") })
            else { throw ConfigError(.syntax("'\(key)' is not a field name"), source: source, line: n) }
            if let firstLine = seen[key] {
                throw ConfigError(.duplicateField(firstLine: firstLine), source: source, line: n, field: key)
            }
            seen[key] = n
            if key == "preset" {
                guard !sawField else {
                    throw ConfigError(.inconsistent("'preset' must be the first field"),
                                      source: source, line: n, field: key)
                }
                guard let preset = MugsConfig.preset(named: unquote(value)) else {
                    throw ConfigError(.unknownPreset(known: MugsConfig.presetNames), source: source, line: n,
                                      field: unquote(value))
                }
                config = preset
                sawField = true
                continue
            }
            sawField = true
            guard let field = MugsConfig.field(named: key) else {
                throw ConfigError(.unknownField(suggestion: closestFieldName(to: key)), source: source, line: n,
                                  field: key)
            }
            try assign(value, to: field, in: &config, source: source, line: n)
        }
        try config.validate(source: source)
        return config
    }

    /// Reads and parses a config file.
    public static func load(path: String) throws -> MugsConfig {
        let text: String
        guard FileManager.default.fileExists(atPath: path) else {
            throw ConfigError(.unreadable("no such file"), source: path)
        }
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError(.unreadable(error.localizedDescription), source: path)
        }
        return try parse(text, source: path)
    }

    /// The full config as YAML, every field with its help text and reference argument as a comment.
    public static func render(_ config: MugsConfig, title: String) -> String {
        var out = "# \(title)\n"
        out += "# mugs config: flat 'key: value  # comment' YAML; every field of docs/CONFIG.md with its value.\n"
        out += "# Names follow sail-sg/mugs main.py's arguments; [brackets] say where the reference sets each one.\n"
        var section = ""
        for field in MugsConfig.fields {
            if field.section != section {
                section = field.section
                out += "\n# --- \(section) ---\n"
            }
            out += "\(field.name): \(field.render(config))  # \(field.help) [\(field.reference)]\n"
        }
        return out
    }

    // MARK: values

    static func assign(_ value: String, to field: ConfigField, in config: inout MugsConfig,
                       source: String, line: Int) throws {
        func bad() -> ConfigError {
            ConfigError(.invalidValue(value, allowed: field.allowed), source: source, line: line, field: field.name)
        }
        switch field.kind {
        case let .int(k, range):
            guard let v = parseInt(value), range.contains(v) else { throw bad() }
            config[keyPath: k] = v
        case let .double(k, range, openLow):
            guard let v = parseDouble(value), range.contains(v), !(openLow && v == range.lowerBound) else {
                throw bad()
            }
            config[keyPath: k] = v
        case let .bool(k):
            switch value {
            case "true", "True", "TRUE": config[keyPath: k] = true
            case "false", "False", "FALSE": config[keyPath: k] = false
            default: throw bad()
            }
        case let .choice(k, choices):
            let v = unquote(value)
            guard choices.contains(v) else { throw bad() }
            config[keyPath: k] = v
        case let .string(k):
            guard !value.isEmpty, !value.hasPrefix("["), !value.hasPrefix("{") else { throw bad() }
            config[keyPath: k] = unquote(value)
        case let .doubles(k, count, range):
            guard value.hasPrefix("["), value.hasSuffix("]") else { throw bad() }
            let items = value.dropFirst().dropLast().split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            let numbers = items.compactMap(parseDouble)
            guard items.count == count, numbers.count == count, numbers.allSatisfy(range.contains) else {
                throw bad()
            }
            config[keyPath: k] = numbers
        }
    }

    static func parseInt(_ s: String) -> Int? {
        guard !s.isEmpty, s.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-" || $0 == "+") }) else { return nil }
        return Int(s)
    }

    /// Decimal floats only (no hex, inf or nan), ints allowed.
    static func parseDouble(_ s: String) -> Double? {
        guard !s.isEmpty, s.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }),
              let v = Double(s), v.isFinite else { return nil }
        return v
    }

    /// Shortest text that reads back as the same Double.
    public static func format(_ x: Double) -> String {
        if x == x.rounded(), abs(x) < 1e15 { return String(format: "%.1f", x) }
        return "\(x)"
    }

    static func quoteIfNeeded(_ s: String) -> String {
        let plain = !s.isEmpty && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0)) }
            && parseDouble(s) == nil && !["true", "false", "True", "False", "TRUE", "FALSE"].contains(s)
        return plain ? s : "\"" + s.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    static func unquote(_ s: String) -> String {
        if s.count >= 2, s.hasPrefix("\""), s.hasSuffix("\"") {
            var out = "", escaped = false
            for c in s.dropFirst().dropLast() {
                if escaped { out.append(c); escaped = false } else if c == "\\" { escaped = true } else { out.append(c) }
            }
            return out
        }
        if s.count >= 2, s.hasPrefix("'"), s.hasSuffix("'") {
            return String(s.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
        }
        return s
    }

    /// The line without its `# comment` (a `#` at the start or after whitespace, outside quotes).
    static func stripComment(_ line: String, source: String, line n: Int) throws -> String {
        var quote: Character? = nil
        var previous: Character = " "
        var index = line.startIndex
        while index < line.endIndex {
            let c = line[index]
            if let q = quote {
                if c == q && previous != "\\" { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "#" && (previous == " " || previous == "\t" || index == line.startIndex) {
                return String(line[..<index])
            }
            previous = c
            index = line.index(after: index)
        }
        if quote != nil { throw ConfigError(.syntax("unterminated quoted string"), source: source, line: n) }
        return line
    }

    /// The known field name closest to `name` by edit distance, if it is close enough to be a likely typo.
    static func closestFieldName(to name: String) -> String? {
        let scored = MugsConfig.fields.map { ($0.name, editDistance(name, $0.name)) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        return best.1 <= max(2, name.count / 3) ? best.0 : nil
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0 ... b.count)
        for i in 1 ... max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1 ... max(b.count, 1) where !b.isEmpty {
                let old = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = old
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}
