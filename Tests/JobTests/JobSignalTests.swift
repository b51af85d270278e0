import Foundation
import JobCommon
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension JobTests {
    /// How the daemons take SIGTERM/SIGINT. Debian's oneDNN 2.6 (the default GEMM engine) runs GEMM kernels that point
    /// `rsp` into the heap; a signal handler that runs while one of them executes writes its frame there and corrupts
    /// the heap (oneDNN issue #4845, fixed upstream in 2026 by PR #4855). So no thread of a daemon may take these
    /// signals asynchronously: every thread blocks them and one thread takes them with `sigwait`
    /// (`ProcessLifecycle.install`). Before that, `tools/stress_sigterm.sh` crashed a worker at SIGTERM in 3 of 4 runs.
    @Suite struct JobSignalTests {
        /// Bit n-1 of /proc's SigBlk mask is signal n.
        static func blocks(_ mask: UInt64, _ sig: Int32) -> Bool { mask & (1 << UInt64(sig - 1)) != 0 }

        /// Every thread of `pid`: (thread id, blocked-signal mask, the system call it waits in), from
        /// /proc/PID/task/TID/status and .../syscall (readable by the parent).
        static func threads(_ pid: pid_t) throws -> [(tid: Int, blocked: UInt64, syscall: Int?)] {
            let dir = "/proc/\(pid)/task"
            return try FileManager.default.contentsOfDirectory(atPath: dir).compactMap { name in
                // A thread may end between the listing and the read.
                guard let tid = Int(name),
                      let status = try? String(contentsOfFile: "\(dir)/\(name)/status", encoding: .utf8) else { return nil }
                guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigBlk:") }),
                      let blocked = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) else {
                    throw JobError("\(dir)/\(name)/status", "no SigBlk line:\n\(status)")
                }
                let call = (try? String(contentsOfFile: "\(dir)/\(name)/syscall", encoding: .utf8))
                    .flatMap { $0.split(separator: " ").first }.flatMap { Int($0) }
                return (tid, blocked, call)
            }.sorted { $0.tid < $1.tid }
        }

        /// x86-64 `rt_sigtimedwait`, where a thread in `sigwait` sleeps (its mask then shows the awaited signals
        /// unblocked).
        static let sigtimedwait = 128

        static var onX86_64: Bool {
            #if arch(x86_64)
            return true
            #else
            return false
            #endif
        }

        /// While a job trains (a worker with 2 compute threads, so the GEMM engine's own threads exist too), the main
        /// thread of the coordinator and of the worker, and every thread started after the signal thread, block
        /// SIGTERM and SIGINT; exactly one thread waits for them in `sigwait`. Threads that libraries start before
        /// `main` (OpenBLAS's idle pool) cannot inherit the mask; the flag-setting handler covers them. Then SIGTERM
        /// still ends both cleanly (exit 0), the coordinator with its checkpoint.
        @Test(.timeLimit(.minutes(3)), .enabled(if: Self.onX86_64, "reads x86-64 system-call numbers from /proc"))
        func computeThreadsBlockTerminationSignalsAndSIGTERMStillEndsCleanly() throws {
            let h = try JobHarness()
            defer { h.stop() }
            let c = try h.coordinator(["--steps", "100000"])
            let w = try h.worker("w0", ["--threads", "2"])
            try c.waitFor("3 committed steps", timeout: 60) { c.committedSteps($0).count >= 3 }
            for d in [c, w] {
                let ts = try Self.threads(d.pid)
                let waiting = ts.filter { $0.syscall == Self.sigtimedwait }
                try #require(waiting.count == 1, "\(d.name): one thread in sigwait: \(ts)")
                let later = ts.filter { $0.tid == Int(d.pid) || $0.tid > waiting[0].tid }
                #expect(later.count >= 4, "\(d.name): the main thread and the threads started after install: \(ts)")
                for t in later {
                    let mask = String(t.blocked, radix: 16)
                    #expect(Self.blocks(t.blocked, SIGTERM) && Self.blocks(t.blocked, SIGINT),
                            "\(d.name) thread \(t.tid) can take SIGTERM/SIGINT in a handler (SigBlk \(mask)): \(ts)")
                }
            }
            w.signal(SIGTERM)
            #expect(w.waitForExit(timeout: 30) == 0, "the worker leaves cleanly on SIGTERM:\n\(w.log)")
            c.signal(SIGTERM)
            #expect(c.waitForExit(timeout: 30) == 0, "the coordinator exits cleanly on SIGTERM:\n\(c.log)")
            #expect(c.events.contains { ($0["message"] as? String)?.hasPrefix("checkpoint written") == true },
                    "the coordinator checkpointed at SIGTERM:\n\(c.log)")
        }
    }
}
