import Foundation
import Testing
import Transport

/// Starting RingProbe ranks for the multi-process tests: where the executable is, free loopback ports, scratch
/// directories, and reading the Float32 files the probes write.
enum ProbeHarness {
    /// RingProbe is built beside the test bundle (TransportTests depends on it).
    static var executable: String {
        if let path = ProcessInfo.processInfo.environment["RING_PROBE"] { return path }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0 ..< 4 {
            let candidate = dir.appendingPathComponent("RingProbe").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("RingProbe").path
    }

    /// `count` TCP ports that were free a moment ago (bound to port 0 together, then released).
    static func freePorts(_ count: Int) -> [Int] {
        var fds: [Int32] = []
        var ports: [Int] = []
        for _ in 0 ..< count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = 0
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
            }
            _ = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
            }
            ports.append(Int(UInt16(bigEndian: addr.sin_port)))
            fds.append(fd)
        }
        fds.forEach { close($0) }
        return ports
    }

    static func endpoints(_ n: Int, host: String = "127.0.0.1") -> [String] {
        freePorts(n).map { "tcp://\(host):\($0)" }
    }

    static func scratchDirectory() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mugs-ring-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }

    static func start(_ mode: String, rank: Int, endpoints: [String], _ extra: [String] = []) throws -> ChildProcess {
        try ChildProcess(executable: executable, arguments: [mode, "--rank", "\(rank)", "--endpoints",
                                                             endpoints.joined(separator: ",")] + extra)
    }

    /// Waits for every child to exit 0 within `timeout` seconds (in total); records an issue with its output if not.
    static func expectSuccess(_ ranks: [ChildProcess], timeout: Double,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        let deadline = Date().addingTimeInterval(timeout)
        for (r, p) in ranks.enumerated() {
            let code = p.waitForExit(timeout: max(0, deadline.timeIntervalSinceNow))
            #expect(code == 0, "rank \(r) exited with \(String(describing: code)):\n\(p.output)",
                    sourceLocation: sourceLocation)
        }
    }

    static func floats(_ path: String) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.withUnsafeBytes { raw in
            (0 ..< data.count / 4).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
        }
    }

    /// Seconds on CLOCK_MONOTONIC, the clock the probes print (`t=`).
    static func monotonic() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
