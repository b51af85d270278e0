import Foundation

/// Headless Chromium (Debian's `chromium` package) driven from the command line, as the browser tests use it: one
/// process per page load, offline (every host name but 127.0.0.1 fails to resolve), a throw-away profile, virtual
/// time so the page's timers run ahead without the test sleeping, and a bound on the real time it may take.
enum HeadlessChromium {
    /// The browser, if installed.
    static let executable: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    static let missing = "headless Chromium is not installed (Debian package chromium; .ci/run installs it)"

    /// Runs Chromium on `url` with `mode` (`--dump-dom`, or `--screenshot=<file>`) in `dir`; returns its output (the
    /// DOM for `--dump-dom`). `virtualSeconds` of the page's own time pass; the process gets `timeout` real seconds.
    static func run(_ url: String, mode: String, in dir: String, virtualSeconds: Int = 20,
                    windowSize: String = "1280,1700", timeout: Double = 120) throws -> String {
        guard let exe = executable else { throw JobErrorForTests(missing) }
        let profile = dir + "/chromium-profile-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                    "--user-data-dir=\(profile)", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                    "--hide-scrollbars", "--window-size=\(windowSize)",
                    "--virtual-time-budget=\(virtualSeconds * 1000)", mode, url]
        let d = try Daemon("chromium", executable: exe, arguments: args, environment: [:],
                           logPath: dir + "/chromium-\(UUID().uuidString).log")
        guard let status = d.waitForExit(timeout: timeout) else {
            d.kill()
            throw JobErrorForTests("chromium \(mode) did not finish within \(timeout) s:\n\(d.log)")
        }
        guard status == 0 else { throw JobErrorForTests("chromium \(mode) exited \(status):\n\(d.log)") }
        return d.log
    }

    /// The `<html>…</html>` part of a `--dump-dom` output (Chromium's own messages go to the same log).
    static func html(_ output: String) -> String? {
        guard let start = output.range(of: "<html"), let end = output.range(of: "</html>", options: .backwards),
              start.lowerBound < end.upperBound else { return nil }
        return String(output[start.lowerBound ..< end.upperBound])
    }
}

struct JobErrorForTests: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
