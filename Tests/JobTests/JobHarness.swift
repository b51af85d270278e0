import ControlPort
import Foundation
import CoordinatorDaemon
import JobCommon
import WorkerDaemon
import MugsModel
import SafeTensors
#if canImport(Glibc)
import Glibc
#endif

/// A daemon started by a test: output to a log file (read by polling, so a chatty child never blocks on a full
/// pipe), `MUGS_EXIT_WITH_PARENT=1` so it exits if the test process dies, and SIGKILL + reap on `kill()`.
final class Daemon {
    let name: String
    let pid: pid_t
    let logPath: String
    private var status: Int32?

    init(_ name: String, executable: String, arguments: [String], environment: [String: String], logPath: String) throws {
        self.name = name
        self.logPath = logPath
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var env = ProcessInfo.processInfo.environment
        env["MUGS_EXIT_WITH_PARENT"] = "1"
        for (k, v) in environment { env[k] = v }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        // The test runner's threads may block signals; the child starts with none blocked and default handlers.
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, &attr, argv, envp)
        guard rc == 0 else { throw JobError(executable, "cannot start: \(String(cString: strerror(rc)))") }
        pid = child
    }

    deinit { kill() }

    func signal(_ sig: Int32) { if status == nil { Glibc.kill(pid, sig) } }

    /// SIGKILL and reap (idempotent).
    func kill() {
        guard status == nil else { return }
        Glibc.kill(pid, SIGCONT)
        Glibc.kill(pid, SIGKILL)
        _ = waitForExit(timeout: 10)
    }

    /// The exit code (128 + signal if killed), or nil if still running after `timeout` seconds.
    func waitForExit(timeout: Double) -> Int32? {
        if let s = status { return s }
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            var st: Int32 = 0
            let r = waitpid(pid, &st, WNOHANG)
            if r == pid {
                status = (st & 0x7f) == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f)
                return status
            }
            usleep(20_000)
        } while Date() < deadline
        return nil
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    var lines: [String] { log.split(separator: "\n").map(String.init) }

    /// JSON log events (lines that parse as objects).
    var events: [[String: Any]] {
        lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func events(_ kind: String) -> [[String: Any]] { events.filter { $0["event"] as? String == kind } }

    /// Waits until `predicate` holds for the events, at most `timeout` seconds (polling the log every 50 ms).
    @discardableResult
    func waitFor(_ what: String, timeout: Double, _ predicate: ([[String: Any]]) -> Bool) throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let e = events
            if predicate(e) { return e }
            if let s = waitForExit(timeout: 0) {
                throw JobError(name, "exited (\(s)) while waiting for \(what); log:\n\(log)")
            }
            if Date() > deadline { throw JobError(name, "no \(what) within \(timeout) s; log:\n\(log)") }
            usleep(50_000)
        }
    }

    /// Committed steps (coordinator).
    func committedSteps(_ e: [[String: Any]]) -> [Int] {
        e.filter { $0["event"] as? String == "step" }.compactMap { $0["step"] as? Int }
    }
}

/// A job on loopback: a scratch directory, a small synthetic Fashion-MNIST-shaped dataset, a tiny config, free
/// ports, and the daemons it started (all SIGKILLed by `stop()`).
final class JobHarness {
    let dir: String
    let token = "test-token-\(UInt32.random(in: 0 ... .max))"
    let listenPort: Int
    let controlPort: Int
    var daemons: [Daemon] = []
    var environment: [String: String]

    /// The tiny model of the tests: d=32, depth 2, 2 heads, patch 4, crops 16/8 px, 2 local crops, batch 8.
    static let tinyConfig = """
        arch: custom
        embed_dim: 32
        depth: 2
        num_heads: 2
        patch_size: 4
        global_crop_size: 16
        local_crop_size: 8
        local_crops_number: 2
        head_hidden_dim: 32
        pred_hidden_dim: 32
        instance_out_dim: 16
        local_group_out_dim: 16
        group_bottleneck_dim: 16
        group_out_dim: 64
        instance_queue_size: 64
        local_group_queue_size: 64
        local_group_memory_size: 64
        batch_size: 8
        epochs: 2
        warmup_epochs: 1
        """

    init(images: Int = 96, config: String = JobHarness.tinyConfig) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("mugs-job-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/fmnist", withIntermediateDirectories: true)
        try Self.writeDataset(dir + "/fmnist", count: images)
        try config.write(toFile: dir + "/tiny.yaml", atomically: true, encoding: .utf8)
        try token.write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        let ports = Self.freePorts(2)
        listenPort = ports[0]
        controlPort = ports[1]
        environment = ["MUGS_FASHION_MNIST_DIR": dir + "/fmnist", "MUGS_CACHE_DIR": dir + "/cache"]
    }

    deinit { stop() }

    /// SIGKILLs every daemon still running and removes the scratch directory.
    func stop() {
        for d in daemons { d.kill() }
        daemons = []
        try? FileManager.default.removeItem(atPath: dir)
    }

    static var binDir: String {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0 ..< 4 {
            if FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("mugs-coordinator").path) {
                return dir.path
            }
            dir = dir.deletingLastPathComponent()
        }
        return Bundle.main.bundleURL.deletingLastPathComponent().path
    }

    var controlURL: String { "http://127.0.0.1:\(controlPort)" }
    var checkpointDir: String { dir + "/ckpt" }

    @discardableResult
    func coordinator(_ extra: [String] = [], name: String = "coordinator", config: Bool = true) throws -> Daemon {
        var args = ["--data", "fashion-mnist:train", "--checkpoint-dir", checkpointDir,
                    "--listen", "tcp://127.0.0.1:\(listenPort)", "--control", "127.0.0.1:\(controlPort)",
                    "--token-file", dir + "/token", "--log-format", "json", "--heartbeat-timeout", "2",
                    "--heartbeat-interval", "0.5"]
        if config { args += ["--config", dir + "/tiny.yaml"] }
        let d = try Daemon(name, executable: Self.binDir + "/mugs-coordinator", arguments: args + extra,
                           environment: environment, logPath: dir + "/\(name)-\(daemons.count).log")
        daemons.append(d)
        return d
    }

    @discardableResult
    func worker(_ name: String, _ extra: [String] = []) throws -> Daemon {
        let port = Self.freePorts(1)[0]
        let d = try Daemon(name, executable: Self.binDir + "/mugs-worker",
                           arguments: ["--coordinator", "tcp://127.0.0.1:\(listenPort)", "--data-port", "\(port)",
                                       "--token-file", dir + "/token", "--name", name, "--log-format", "json",
                                       "--ring-timeout", "2", "--ring-join-timeout", "4", "--max-backoff", "1"] + extra,
                           environment: environment, logPath: dir + "/\(name)-\(daemons.count).log")
        daemons.append(d)
        return d
    }

    /// Runs the `mugs` CLI with the job's environment to completion (at most `timeout` seconds) and returns the JSON
    /// object it prints (`--json`); a failure or non-JSON output throws with the output.
    func mugsJSON(_ arguments: [String], timeout: Double = 120) throws -> [String: Any] {
        let d = try Daemon("mugs", executable: Self.binDir + "/mugs", arguments: arguments, environment: environment,
                           logPath: dir + "/mugs-\(daemons.count).log")
        daemons.append(d)
        guard let status = d.waitForExit(timeout: timeout) else {
            d.kill()
            throw JobError("mugs \(arguments.joined(separator: " "))", "still running after \(timeout) s:\n\(d.log)")
        }
        let log = d.log
        guard status == 0, let start = log.firstIndex(of: "{"),
              let object = try? JSONSerialization.jsonObject(with: Data(log[start...].utf8)) as? [String: Any]
        else { throw JobError("mugs \(arguments.joined(separator: " "))", "exit \(status), output:\n\(log)") }
        return object
    }

    /// `count` synthetic 28×28 grey images with labels, as uncompressed IDX files under Fashion-MNIST's names (zlib
    /// reads uncompressed data through its gzip reader). `split` "t10k" writes the test split (other pixel noise);
    /// `firstIndex` shifts the shapes and labels (image i looks like — and has the label of — training image i).
    static func writeDataset(_ dir: String, count: Int, split: String = "train", firstIndex: Int = 0) throws {
        var images: [UInt8] = [0, 0, 8, 3]
        for d in [count, 28, 28] { images += withUnsafeBytes(of: UInt32(d).bigEndian) { Array($0) } }
        var labels: [UInt8] = [0, 0, 8, 1]
        labels += withUnsafeBytes(of: UInt32(count).bigEndian) { Array($0) }
        var x: UInt64 = split == "train" ? 0x1234_5678 : 0x8765_4321
        for i in firstIndex ..< firstIndex + count {
            let cx = 6 + i % 16, cy = 6 + (i / 16) % 16, r = 3 + i % 7
            for y in 0 ..< 28 {
                for xx in 0 ..< 28 {
                    x = x &* 6364136223846793005 &+ 1442695040888963407
                    let inside = (xx - cx) * (xx - cx) + (y - cy) * (y - cy) <= r * r
                    images.append(UInt8(truncatingIfNeeded: (inside ? 200 : 30) + Int(x >> 60)))
                }
            }
            labels.append(UInt8(i % 10))
        }
        try Data(images).write(to: URL(fileURLWithPath: dir + "/\(split)-images-idx3-ubyte.gz"))
        try Data(labels).write(to: URL(fileURLWithPath: dir + "/\(split)-labels-idx1-ubyte.gz"))
    }

    static func freePorts(_ count: Int) -> [Int] {
        var fds: [Int32] = [], ports: [Int] = []
        for _ in 0 ..< count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
            _ = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
            }
            ports.append(Int(UInt16(bigEndian: addr.sin_port)))
            fds.append(fd)
        }
        fds.forEach { close($0) }
        return ports
    }

    /// POST /<action> with the job token; returns the HTTP status.
    @discardableResult
    func control(_ action: String) throws -> Int {
        try ControlClient.request(host: "127.0.0.1", port: controlPort, method: "POST", path: "/" + action,
                                  headers: [("Authorization", "Bearer \(token)")]).status
    }

    /// GET /metrics, as text.
    func metrics() throws -> String {
        let r = try ControlClient.request(host: "127.0.0.1", port: controlPort, method: "GET", path: "/metrics")
        return String(decoding: r.body, as: UTF8.self)
    }

    /// GET /status, decoded.
    func status() throws -> StatusReport {
        let r = try ControlClient.request(host: "127.0.0.1", port: controlPort, method: "GET", path: "/status")
        return try StatusReport.decode(Data(r.body))
    }

    /// The student parameters of the checkpoint at `path`.
    static func studentParameters(_ path: String) throws -> [String: [Float]] {
        let f = try SafeTensors.read(path: try Checkpoint.resolve(path) + "/model.safetensors")
        var out: [String: [Float]] = [:]
        for name in f.names where name.hasPrefix("student.") { out[name] = try f.tensor(name).data }
        return out
    }
}
