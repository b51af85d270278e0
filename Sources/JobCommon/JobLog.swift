import Foundation
import JSONText

/// The daemons' log: one line per event on standard error, as text (`2025-01-01T12:00:00.123Z step 12 ...`) or as
/// JSON objects (`--log-format json`: `{"time": ..., "event": "step", "message": ..., fields...}`). Thread-safe.
public final class JobLog: @unchecked Sendable {
    public enum Format: String, Sendable, CaseIterable { case text, json }

    public let format: Format
    public let component: String
    private let lock = NSLock()
    private let formatter: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()

    public init(format: Format, component: String) {
        self.format = format
        self.component = component
    }

    /// A value of a structured field (JSON number, string, bool or array of numbers).
    public enum Value: Sendable, CustomStringConvertible {
        case int(Int), double(Double), string(String), bool(Bool), ints([Int])

        public var description: String {
            switch self {
            case let .int(v): return String(v)
            case let .double(v): return String(format: "%.6g", v)
            case let .string(v): return v
            case let .bool(v): return String(v)
            case let .ints(v): return "[" + v.map(String.init).joined(separator: ",") + "]"
            }
        }

        var json: String {
            switch self {
            case let .int(v): return String(v)
            case let .double(v): return v.isFinite ? "\(v)" : "null"
            case let .string(v): return jsonString(v)
            case let .bool(v): return String(v)
            case let .ints(v): return "[" + v.map(String.init).joined(separator: ",") + "]"
            }
        }
    }

    /// Logs `message` as event `event`; `fields` go into the JSON form only (the text form is the message).
    public func log(_ event: String, _ message: String, _ fields: [(String, Value)] = []) {
        let time = formatter.string(from: Date())
        let line: String
        switch format {
        case .text:
            line = "\(time) \(component) \(message)\n"
        case .json:
            var parts = ["\"time\":\(jsonString(time))", "\"component\":\(jsonString(component))",
                         "\"event\":\(jsonString(event))", "\"message\":\(jsonString(message))"]
            for (k, v) in fields { parts.append("\(jsonString(k)):\(v.json)") }
            line = "{" + parts.joined(separator: ",") + "}\n"
        }
        lock.lock()
        FileHandle.standardError.write(Data(line.utf8))
        lock.unlock()
    }
}
