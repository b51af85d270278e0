import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM/SIGINT as flags the daemons' loops check (graceful shutdown), and an optional watch on the parent
/// process (`MUGS_EXIT_WITH_PARENT=1`, used by the tests) so a daemon never outlives the process that started it.
public enum ProcessLifecycle {
    nonisolated(unsafe) private static var terminateFlag: sig_atomic_t = 0
    nonisolated(unsafe) private static var interruptFlag: sig_atomic_t = 0
    nonisolated(unsafe) private static var parent: pid_t = 0

    /// Installs the handlers; call once at start-up.
    public static func install() {
        signal(SIGTERM) { _ in ProcessLifecycle.terminateFlag = 1 }
        signal(SIGINT) { _ in ProcessLifecycle.interruptFlag = 1 }
        signal(SIGPIPE, SIG_IGN)
        // A parent may have started us with these blocked (the mask is inherited); a daemon must see them.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        if ProcessInfo.processInfo.environment["MUGS_EXIT_WITH_PARENT"] == "1" { parent = getppid() }
    }

    /// SIGTERM arrived: finish or abort the step, checkpoint, leave.
    public static var terminationRequested: Bool { terminateFlag != 0 }
    /// SIGINT arrived.
    public static var interruptRequested: Bool { interruptFlag != 0 }

    /// True when parent watching is on and the parent has gone (the process was re-parented).
    public static var parentGone: Bool { parent != 0 && getppid() != parent }

    /// Monotonic seconds.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
