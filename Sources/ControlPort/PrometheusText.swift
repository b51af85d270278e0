/// Builds a Prometheus text exposition (format 0.0.4): `# HELP`, `# TYPE`, then samples.
/// Metric names are `mugs_*` in base units (seconds, bytes, images).
public struct PrometheusText: Sendable {
    private var out = ""
    public init() {}

    public mutating func gauge(_ name: String, _ help: String, _ value: Double, labels: [(String, String)] = []) {
        header(name, help, "gauge")
        sample(name, value, labels)
    }

    public mutating func counter(_ name: String, _ help: String, _ value: Double, labels: [(String, String)] = []) {
        header(name, help, "counter")
        sample(name, value, labels)
    }

    /// One metric family with a sample per label set.
    public mutating func gauges(_ name: String, _ help: String, _ samples: [([(String, String)], Double)]) {
        header(name, help, "gauge")
        for (labels, v) in samples { sample(name, v, labels) }
    }

    public var text: String { out }

    private mutating func header(_ name: String, _ help: String, _ type: String) {
        out += "# HELP \(name) \(help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n"))\n"
        out += "# TYPE \(name) \(type)\n"
    }

    private mutating func sample(_ name: String, _ value: Double, _ labels: [(String, String)]) {
        var line = name
        if !labels.isEmpty {
            line += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        out += line + " " + Self.format(value) + "\n"
    }

    static func escape(_ v: String) -> String {
        v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }
}
