import Foundation

/// Where the dashboard's charting library comes from: dygraphs as Debian's `libjs-dygraphs` installs it
/// (`/usr/share/javascript/dygraphs`), read when the browser asks, so installing the package on a running head node is
/// enough. Not compiled in: the library stays Debian's (its version, its security updates, its licence file) and
/// the binary carries only mugs's own code (docs/OPERATIONS.md, "Dashboard"). When the package is missing the request
/// gets a 404 saying what to install, and the page shows that message in place of the charts.
public struct DashboardAssets: Sendable {
    public enum Asset: Sendable {
        case script, style

        /// File names tried in order (the minified build first).
        var candidates: [String] {
            switch self {
            case .script: return ["dygraph.min.js", "dygraph.js"]
            case .style: return ["dygraph.min.css", "dygraph.css"]
            }
        }
    }

    public struct Missing: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The directory holding dygraph.js and dygraph.css.
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// Debian's location.
    public static let system = DashboardAssets(directory: "/usr/share/javascript/dygraphs")

    public func read(_ asset: Asset) -> Result<[UInt8], Missing> {
        for name in asset.candidates {
            let path = (directory as NSString).appendingPathComponent(name)
            if let data = FileManager.default.contents(atPath: path) { return .success(Array(data)) }
        }
        let names = asset.candidates.joined(separator: " or ")
        return .failure(Missing(description: "the dashboard's charts need dygraphs, which is not installed on the "
                                + "coordinator's host (no \(names) in \(directory)): apt-get install libjs-dygraphs"))
    }
}
