import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM/SIGINT as flags the daemons' loops check (graceful shutdown), and an optional watch on the parent
/// process (`MUGS_EXIT_WITH_PARENT=1`, used by the tests) so a daemon never outlives the process that started it.
///
/// The signals are taken by one dedicated thread, never by a handler interrupting a compute thread: `install` blocks
/// them in the calling thread before it starts any other, every thread started later (compute pool, OpenMP, loader,
/// I/O) inherits that mask, and one thread waits for them in `sigwait`. Debian's oneDNN 2.6 runs GEMM kernels with
/// `rsp` pointing into the heap; a handler run there writes its signal frame over heap memory (oneDNN issue #4845),
/// which crashed workers at SIGTERM (docs/ARCHITECTURE.md, "Signals"; `tools/stress_sigterm.sh`). The flag-setting
/// handlers stay for threads a library started before `main` (OpenBLAS's idle pool), which cannot inherit the mask.
public enum ProcessLifecycle {
    private static let terminateFlag = Atomic<Int>(0)
    private static let interruptFlag = Atomic<Int>(0)
    private static let installed = Atomic<Bool>(false)
    nonisolated(unsafe) private static var parent: pid_t = 0

    /// Blocks SIGTERM/SIGINT in this thread (and so in every thread it starts afterwards) and starts the thread that
    /// waits for them. Call once at start-up, before starting threads; later calls do nothing.
    public static func install() {
        guard installed.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged
        else { return }
        _ = terminateFlag.load(ordering: .relaxed)  // initialise the statics before a handler can touch them
        _ = interruptFlag.load(ordering: .relaxed)
        signal(SIGTERM) { ProcessLifecycle.record($0) }
        signal(SIGINT) { ProcessLifecycle.record($0) }
        signal(SIGPIPE, SIG_IGN)
        var set = terminationSignals
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let waiter = Thread {
            var set = terminationSignals
            var sig: Int32 = 0
            while sigwait(&set, &sig) == 0 { record(sig) }
            // sigwait fails only for an invalid set; rather than spin, let the handler take the signals on this
            // thread, which runs no GEMM kernel.
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            while true { pause() }
        }
        waiter.start()
        if ProcessInfo.processInfo.environment["MUGS_EXIT_WITH_PARENT"] == "1" { parent = getppid() }
    }

    /// SIGTERM and SIGINT.
    private static var terminationSignals: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        return set
    }

    /// Sets the flag of `sig` (async-signal-safe: one lock-free atomic store).
    private static func record(_ sig: Int32) {
        if sig == SIGTERM { terminateFlag.store(1, ordering: .relaxed) }
        if sig == SIGINT { interruptFlag.store(1, ordering: .relaxed) }
    }

    /// SIGTERM arrived: finish or abort the step, checkpoint, leave.
    public static var terminationRequested: Bool { terminateFlag.load(ordering: .relaxed) != 0 }
    /// SIGINT arrived.
    public static var interruptRequested: Bool { interruptFlag.load(ordering: .relaxed) != 0 }

    /// True when parent watching is on and the parent has gone (the process was re-parented).
    public static var parentGone: Bool { parent != 0 && getppid() != parent }

    /// Monotonic seconds.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
