// RingProbe — a hidden helper executable (not a product): one rank of a ring for the multi-process tests in
// Tests/TransportTests and for benchmarks. Prints one line per event; exits 0 on success, 3 on a ring error.
//
//   RingProbe allreduce --rank R --endpoints E0,E1,.. --counts 0,1,1000 --dir D [common]
//       writes D/in-R-COUNT.bin and D/out-R-COUNT.bin (raw Float32) for each count
//   RingProbe allgather --rank R --endpoints .. --dir D [common]      writes D/gather-R.bin; block of rank r is
//       blockLength(r) bytes of pattern(r)
//   RingProbe loop --rank R --endpoints .. --counts N [common]        all-reduces until an error ("iteration i")
//   RingProbe intruder --target E --job J --gen G --sender S --seconds T   sends foreign messages to E
//   RingProbe bench --rank R --endpoints .. --sizes-mib 1,16 --iters K [common]
// common: --job J --gen G --segment-bytes B --window W --peer-timeout S --join-timeout S
import Foundation
import Sampling
import Transport
import Wire

func fail(_ message: String, code: Int32 = 2) -> Never {
    print("error \(message)")
    exit(code)
}

setvbuf(stdout, nil, _IOLBF, 0)
let args = Array(CommandLine.arguments.dropFirst())
guard let mode = args.first else { fail("usage: RingProbe MODE --flags") }
var flags: [String: String] = [:]
var k = 1
while k + 1 < args.count {
    guard args[k].hasPrefix("--") else { fail("unexpected argument \(args[k])") }
    flags[String(args[k].dropFirst(2))] = args[k + 1]
    k += 2
}
func flag(_ name: String) -> String {
    guard let v = flags[name] else { fail("missing --\(name)") }
    return v
}
func int(_ name: String, _ fallback: Int? = nil) -> Int {
    guard let s = flags[name] ?? fallback.map(String.init), let v = Int(s) else { fail("--\(name) needs an integer") }
    return v
}
func double(_ name: String, _ fallback: Double) -> Double {
    guard let s = flags[name] else { return fallback }
    guard let v = Double(s) else { fail("--\(name) needs a number") }
    return v
}
func monotonic() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// Deterministic test data: SplitMix64 → floats in [-1, 1).
func fill(_ p: UnsafeMutablePointer<Float>, _ n: Int, seed: UInt64) {
    var s = SplitMix64(state: seed)
    for i in 0 ..< n {
        p[i] = Float(s.next() >> 40) / Float(1 << 23) - 1
    }
}

func write(_ path: String, _ p: UnsafeRawPointer, _ bytes: Int) {
    let data = Data(bytes: p, count: bytes)
    do { try data.write(to: URL(fileURLWithPath: path)) } catch { fail("writing \(path): \(error)") }
}

func makeRing() -> Ring {
    var options = RingOptions()
    options.segmentBytes = int("segment-bytes", options.segmentBytes)
    options.window = int("window", options.window)
    options.ioThreads = int("io-threads", options.ioThreads)
    options.socketBufferBytes = Int32(int("socket-buffer", Int(options.socketBufferBytes)))
    options.peerTimeout = double("peer-timeout", options.peerTimeout)
    options.sharedMemory = int("shared-memory", 1) != 0
    options.joinTimeout = double("join-timeout", 30)
    let endpoints = flag("endpoints").split(separator: ",").map(String.init)
    do {
        return try Ring(rank: int("rank"), endpoints: endpoints, generation: UInt64(int("gen", 1)),
                        jobID: UInt64(int("job", 7)), options: options)
    } catch { fail("\(error)") }
}

func reportRingError(_ error: Error) -> Never {
    if let e = error as? RingError {
        print("ringerror failedRank=\(e.failedRank.map(String.init) ?? "none") t=\(monotonic()) \(e)")
    } else {
        print("ringerror failedRank=none t=\(monotonic()) \(error)")
    }
    exit(3)
}

switch mode {
case "allreduce":
    let ring = makeRing()
    let rank = int("rank")
    let dir = flag("dir")
    print("bound")
    for count in flag("counts").split(separator: ",").map({ Int($0)! }) {
        let buffer = AlignedFloatBuffer(count: count)
        fill(buffer.base, count, seed: UInt64(count) &* 1_000_003 &+ UInt64(rank))
        write("\(dir)/in-\(rank)-\(count).bin", buffer.base, 4 * count)
        var owned: Range<Int>? = nil
        do {
            try ring.allReduce(buffer.buffer, keepingAlive: buffer, step: UInt64(count)) { owned = $0 }
        } catch { reportRingError(error) }
        guard owned == ring.ownedRange(count: count) else { fail("owned-chunk hook gave \(String(describing: owned))") }
        write("\(dir)/out-\(rank)-\(count).bin", buffer.base, 4 * count)
        print("done count=\(count) owned=\(owned!.lowerBound)..<\(owned!.upperBound)")
    }
    print("stats dropped=\(ring.statistics.droppedMessages) ops=\(ring.statistics.operations) "
          + "sharedSent=\(ring.statistics.sharedSegmentsSent) sharedReceived=\(ring.statistics.sharedSegmentsReceived) "
          + "declined=\((ring.statistics.sharedMemoryDeclined ?? "-").replacingOccurrences(of: " ", with: "_"))")
    ring.close()
    print("ok")

case "allgather":
    let ring = makeRing()
    let rank = int("rank")
    let out = GatheredBlocks()
    for round in 0 ..< 3 {
        // Block of rank r in round k: (r * 5000 + k * 3) % 7919 bytes, byte i = (r * 31 + i + k) & 255.
        let length = (rank * 5000 + round * 3) % 7919
        let block = (0 ..< length).map { UInt8(truncatingIfNeeded: rank * 31 + $0 + round) }
        do {
            try block.withUnsafeBytes { try ring.allGather($0, into: out, step: UInt64(round)) }
        } catch { reportRingError(error) }
        write("\(flag("dir"))/gather-\(rank)-\(round).bin", out.bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!,
              out.totalBytes)
        print("gathered round=\(round) bytes=\(out.totalBytes)")
    }
    ring.close()
    print("ok")

case "loop":
    let ring = makeRing()
    let count = int("counts")
    let buffer = AlignedFloatBuffer(count: count)
    print("bound")
    var i = 0
    while true {
        buffer.base.update(repeating: 1, count: count)
        do { try ring.allReduce(buffer.buffer, keepingAlive: buffer, step: UInt64(i)) } catch { reportRingError(error) }
        if buffer.base[0] != Float(ring.size) { fail("wrong sum \(buffer.base[0])") }
        print("iteration \(i) t=\(monotonic())")
        i += 1
    }

case "intruder":
    // Connects like a ring predecessor but with another job or generation, and sends hellos and segments.
    do {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, .dealer)
        try socket.set(.linger(milliseconds: 0))
        try socket.set(.immediate(true))  // the first send completes only once connected
        try socket.connect(flag("target"))
        let payload = [UInt8](repeating: 0x7f, count: 4096)
        let until = monotonic() + double("seconds", 2)
        var sent = 0
        while monotonic() < until {
            for type in [MessageType.ringHello, .ringSegment] {
                let h = FrameHeader(type: type, jobID: UInt64(int("job")), generation: UInt64(int("gen")),
                                    sequence: UInt64(sent), sender: UInt32(int("sender")),
                                    phase: type == .ringSegment ? .reduceScatter : .none,
                                    frameCount: type == .ringSegment ? 1 : 0,
                                    dataLength: type == .ringSegment ? 4096 : 0)
                _ = try socket.send(h.encoded(), more: type == .ringSegment, dontWait: false)
                if type == .ringSegment { _ = try socket.send(payload, dontWait: false) }
                sent += 1
                if sent == 1 { print("intruding") }
            }
            var p = ZMQPoller([socket])
            try p.poll(timeout: 0.002)  // pace without spinning
        }
        print("intruder sent=\(sent)")
        socket.close()
        context.terminate()
    } catch { fail("\(error)") }

case "bench":
    let ring = makeRing()
    let sizes = flag("sizes-mib").split(separator: ",").map { Int($0)! << 20 }
    do {
        let rows = try AllReduceBenchmark.run(ring: ring, sizes: sizes, iterations: int("iters", 10),
                                              refill: int("refill", 1) != 0)
        if ring.rank == 0 { rows.forEach { print($0.line) } }
    } catch { reportRingError(error) }
    ring.close()

default:
    fail("unknown mode \(mode)")
}
