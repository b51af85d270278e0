import ArgumentParser
import Foundation
import Transport

extension Mugs {
    /// `mugs bench allreduce`: ring all-reduce time, algbw and busbw (nccl-tests definitions) for N local worker
    /// processes on loopback — the partner of `shared/bench/gloo_allreduce.py` (same sizes, same timing: barrier,
    /// timed op, max over ranks; 2 warm-ups; half the iterations, at least 3, at 256 MiB).
    struct BenchAllreduce: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "allreduce",
            abstract: "Time the ZeroMQ ring all-reduce of Float32 buffers between local worker processes.")

        @Option(name: .customLong("workers"), parsing: .upToNextOption, help: "Ring sizes (processes) to measure.")
        var workers: [Int] = [2, 4]

        @Option(name: .customLong("size"), parsing: .upToNextOption, help: "Buffer sizes in MiB.")
        var sizes: [Int] = [1, 16, 64, 256]

        @Option(help: "Timed iterations per size (after 2 warm-ups).")
        var iters: Int = 10

        @Option(help: "Segment size in bytes.")
        var segmentBytes: Int = RingOptions().segmentBytes

        @Option(help: "Segments in flight per link (credit window).")
        var window: Int = RingOptions().window

        @Option(help: ArgumentHelp("Kernel socket buffer size in bytes (SO_SNDBUF/SO_RCVBUF); -1 keeps the OS "
                                   + "default (autotuned)."))
        var socketBufferBytes: Int32 = RingOptions().socketBufferBytes

        @Option(help: "First TCP port; rank r uses base-port + r.")
        var basePort: Int = 47400

        @Flag(help: "Use IPv6 loopback (tcp://[::1]) instead of 127.0.0.1.")
        var ipv6 = false

        @Flag(help: ArgumentHelp("Use Unix-domain sockets (ipc://) instead of TCP endpoints."))
        var ipc = false

        @Flag(help: ArgumentHelp("Carry every payload over the sockets, as between hosts (by default co-located "
                                 + "ranks, as all of these are, move segment bytes through shared memory)."))
        var noSharedMemory = false

        @Flag(help: ArgumentHelp("Fill the buffer once instead of before every iteration; only the first result is "
                                 + "checked. For CPU-per-operation measurements (tools/bench_allreduce_cpu.sh), like "
                                 + "gloo_allreduce.py, which never refills."))
        var noRefill = false

        func validate() throws {
            guard workers.allSatisfy({ (2 ... 64).contains($0) }) else {
                throw ValidationError("--workers must be 2...64")
            }
            guard sizes.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--size must be ≥ 1 MiB") }
            guard iters >= 1 else { throw ValidationError("--iters must be ≥ 1, got \(iters)") }
            guard segmentBytes >= 64 else { throw ValidationError("--segment-bytes must be ≥ 64") }
            guard window >= 1 else { throw ValidationError("--window must be ≥ 1") }
            guard socketBufferBytes == -1 || socketBufferBytes > 0 else {
                throw ValidationError("--socket-buffer-bytes must be -1 (OS default) or > 0, got \(socketBufferBytes)")
            }
            guard (1024 ... 65000).contains(basePort) else { throw ValidationError("--base-port must be 1024...65000") }
            guard !(ipc && ipv6) else { throw ValidationError("--ipc and --ipv6 exclude each other") }
        }

        func run() throws {
            let exe = try currentExecutable()
            let transport = (ipc ? "Unix-domain sockets (ipc)" : "loopback TCP \(ipv6 ? "IPv6" : "IPv4")")
                + (noSharedMemory ? ", payloads over the sockets" : " + shared-memory payloads (co-located ranks)")
            print("mugs ring all-reduce, libzmq \(ZMQContext.version), \(transport), segment \(segmentBytes) B, "
                  + "window \(window)")
            let pid = ProcessInfo.processInfo.processIdentifier
            for n in workers {
                let host = ipv6 ? "[::1]" : "127.0.0.1"
                let endpoints = (0 ..< n).map {
                    ipc ? "ipc:///tmp/mugs-bench-\(pid)-\(n)-\($0)" : "tcp://\(host):\(basePort + $0)"
                }.joined(separator: ",")
                let ranks = try (0 ..< n).map { r in
                    try ChildProcess(executable: exe, arguments: [
                        "bench", "allreduce-rank", "--rank", "\(r)", "--endpoints", endpoints,
                        "--sizes", sizes.map(String.init).joined(separator: ","), "--iters", "\(iters)",
                        "--segment-bytes", "\(segmentBytes)", "--window", "\(window)",
                        "--socket-buffer-bytes=\(socketBufferBytes)"]
                        + (noSharedMemory ? ["--no-shared-memory"] : []) + (noRefill ? ["--no-refill"] : []))
                }
                // Bound: generous for 256 MiB on an oversubscribed box; a failing rank ends the others sooner.
                let codes = ranks.map { $0.waitForExit(timeout: 900) }
                if ipc {  // libzmq leaves the socket files behind
                    for e in endpoints.split(separator: ",") {
                        try? FileManager.default.removeItem(atPath: String(e.dropFirst("ipc://".count)))
                    }
                }
                for (r, code) in codes.enumerated() where code != 0 {
                    throw CLIError("rank \(r) of \(n) exited with \(code.map(String.init) ?? "timeout"):\n"
                                   + ranks[r].output)
                }
                ranks[0].remainingLines.filter { $0.hasPrefix("ranks=") }.forEach { print($0) }
            }
        }

        private func currentExecutable() throws -> String {
            let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments[0]
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw CLIError("cannot find this executable to start the worker processes (\(path))")
            }
            return path
        }
    }

    /// One rank of `mugs bench allreduce` (hidden; started by it).
    struct BenchAllreduceRank: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "allreduce-rank", shouldDisplay: false)

        @Option var rank: Int
        @Option var endpoints: String
        @Option var sizes: String
        @Option var iters: Int
        @Option var segmentBytes: Int
        @Option var window: Int
        @Option var socketBufferBytes: Int32 = -1
        @Flag var noSharedMemory = false
        @Flag var noRefill = false

        func run() throws {
            var options = RingOptions()
            options.segmentBytes = segmentBytes
            options.window = window
            options.sharedMemory = !noSharedMemory
            options.socketBufferBytes = socketBufferBytes
            options.peerTimeout = 30  // an oversubscribed box can stall a rank for seconds; this is not a failure test
            options.joinTimeout = 60
            let ring = try Ring(rank: rank, endpoints: endpoints.split(separator: ",").map(String.init),
                                generation: 1, jobID: 0xBE4C, options: options)
            defer { ring.close() }
            let bytes = try sizes.split(separator: ",").map { s -> Int in
                guard let mib = Int(s) else { throw CLIError("bad size \(s)") }
                return mib << 20
            }
            let rows = try AllReduceBenchmark.run(ring: ring, sizes: bytes, iterations: iters, refill: !noRefill)
            if rank == 0 { rows.forEach { print($0.line) } }
        }
    }
}
