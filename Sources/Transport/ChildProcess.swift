import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process with its stdout+stderr on a pipe, for local multi-process rings (benchmarks, tests). Every wait
/// is bounded (poll(2) on the pipe); `deinit` kills and reaps a child that is still running, so no process leaks.
public final class ChildProcess {
    public let pid: pid_t
    public let arguments: [String]
    private var fd: Int32
    private var pending: [UInt8] = []
    private var exitStatus: Int32?
    /// Everything read so far (for error reports).
    public private(set) var output = ""

    /// Starts `executable` with `arguments` (argv[1...]).
    public init(executable: String, arguments: [String]) throws {
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { throw ChildProcessError.spawnFailed(executable, errno: errno) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        posix_spawn_file_actions_addclose(&actions, pipeFDs[1])
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, nil, argv, environ)
        close(pipeFDs[1])
        guard rc == 0 else {
            close(pipeFDs[0])
            throw ChildProcessError.spawnFailed(executable, errno: rc)
        }
        pid = child
        fd = pipeFDs[0]
        self.arguments = arguments
    }

    deinit {
        if exitStatus == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        if fd >= 0 { close(fd) }
    }

    /// Sends a signal (SIGKILL, SIGSTOP, SIGCONT, ...).
    public func signal(_ sig: Int32) { if exitStatus == nil { kill(pid, sig) } }

    /// The next output line, waiting at most `timeout` seconds; nil on timeout or end of output.
    public func readLine(timeout: Double) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let nl = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[..<nl], as: UTF8.self)
                pending.removeSubrange(...nl)
                return line
            }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0, fd >= 0, readSome(timeout: remaining) else { return nil }
        }
    }

    /// Waits for a line satisfying `match` (other lines are skipped), at most `timeout` seconds.
    public func waitForLine(timeout: Double, where match: (String) -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while let line = readLine(timeout: max(0, deadline.timeIntervalSinceNow)) {
            if match(line) { return line }
        }
        return nil
    }

    /// Reads all remaining output and waits for exit, at most `timeout` seconds. Returns the exit code (128+signal
    /// if killed), or nil on timeout (the child is left running; deinit kills it).
    public func waitForExit(timeout: Double) -> Int32? {
        if let s = exitStatus { return s }
        let deadline = Date().addingTimeInterval(timeout)
        while fd >= 0 {  // EOF on the pipe means the child closed it (it exited)
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { return nil }
            _ = readSome(timeout: remaining)
        }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        exitStatus = code
        return code
    }

    /// The lines not yet consumed by `readLine`, after the child exited.
    public var remainingLines: [String] {
        String(decoding: pending, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Reads what is available within `timeout`; false on timeout or EOF.
    private func readSome(timeout: Double) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let n = poll(&p, 1, Int32(max(0, min(timeout, 3600)) * 1000) + 1)
        if n < 0 && errno == EINTR { return true }
        guard n > 0 else { return false }
        var buf = [UInt8](repeating: 0, count: 65536)
        let got = read(fd, &buf, buf.count)
        if got < 0 && errno == EINTR { return true }
        guard got > 0 else {
            close(fd)
            fd = -1
            return false
        }
        pending += buf[0 ..< got]
        output += String(decoding: buf[0 ..< got], as: UTF8.self)
        return true
    }
}

public enum ChildProcessError: Error, CustomStringConvertible {
    case spawnFailed(String, errno: Int32)

    public var description: String {
        switch self {
        case let .spawnFailed(path, e): return "could not start \(path): \(String(cString: strerror(e)))"
        }
    }
}
