import Foundation

/// Shared-memory segment slots for a ring link whose two ends run on the same host.
///
/// Over loopback TCP every segment is copied by the kernel twice (into the socket, out of it) and most of a rank's
/// CPU goes there (docs/TRANSPORT.md). Between co-located ranks the sender instead copies a segment once into one
/// of `slots` slots of an anonymous shared file (`memfd_create`) and sends only the header over ZeroMQ; the receiver
/// reduces or copies straight out of its read-only mapping of the same file. Everything else — hello, credits,
/// aborts, heartbeats, failure detection — stays on the ZeroMQ connection, so a dead or stopped peer is noticed
/// exactly as before.
///
/// Slot reuse is safe by the credit protocol: a sender may send sequence s only below the receiver's credit limit,
/// which is at most (segments consumed) + window, and the receiver accepts an offer only if it has at least `window`
/// slots, so slot s mod slots was last used by a segment the receiver has already consumed.
///
/// The receiver opens the region as `/proc/<pid>/fd/<fd>`: no name in /dev/shm, so nothing leaks when a process is
/// killed — the memory is freed with the last mapping. That works for the same user in the same PID namespace;
/// `hostKey` (boot id, PID and network namespaces, uid) tells the receiver whether to try. Ranks in different
/// network namespaces count as different hosts, so a cut link still cuts the data path.
final class SharedSlots {
    let base: UnsafeMutableRawPointer
    let slots: Int
    let slotBytes: Int
    let fd: Int32
    var byteCount: Int { slots * slotBytes }

    private init(base: UnsafeMutableRawPointer, slots: Int, slotBytes: Int, fd: Int32) {
        self.base = base
        self.slots = slots
        self.slotBytes = slotBytes
        self.fd = fd
    }

    deinit {
        munmap(base, byteCount)
        close(fd)
    }

    /// The start of slot `i`.
    func slot(_ i: Int) -> UnsafeMutableRawPointer { base + i * slotBytes }

    /// A new writable region of `slots` × `slotBytes` bytes (the sender's side). Pages are allocated as they are
    /// first written. Nil where the kernel refuses (no memfd_create, out of memory): the link then stays on TCP.
    static func create(slots: Int, slotBytes: Int) -> SharedSlots? {
        guard let memfdCreate = Self.memfdCreate, slots > 0, slotBytes > 0 else { return nil }
        let fd = memfdCreate("mugs-ring", 1 /* MFD_CLOEXEC */)
        guard fd >= 0 else { return nil }
        let bytes = slots * slotBytes
        guard ftruncate(fd, off_t(bytes)) == 0,
              let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            close(fd)
            return nil
        }
        return SharedSlots(base: p, slots: slots, slotBytes: slotBytes, fd: fd)
    }

    /// Maps the predecessor's region read-only (the receiver's side), after checking it is what the offer says: a
    /// memfd made by mugs of exactly `slots` × `slotBytes` bytes. Throws a reason the ring records when it declines.
    static func open(pid: UInt32, fd: UInt32, slots: Int, slotBytes: Int) throws(SharedSlotsError) -> SharedSlots {
        guard slots > 0, slotBytes > 0, slots <= 1 << 16, slotBytes <= 1 << 30 else {
            throw SharedSlotsError("offer of \(slots) slots × \(slotBytes) bytes is out of range")
        }
        let path = "/proc/\(pid)/fd/\(fd)"
        // The link target names what the descriptor is; a recycled descriptor number would show something else.
        var target = [CChar](repeating: 0, count: 256)
        let n = readlink(path, &target, target.count - 1)
        guard n > 0 else { throw SharedSlotsError("\(path): \(String(cString: strerror(errno)))") }
        let name = String(decoding: target[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard name.hasPrefix("/memfd:mugs-ring") else {
            throw SharedSlotsError("\(path) is \(name), not a mugs ring region")
        }
        let rfd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard rfd >= 0 else { throw SharedSlotsError("open \(path): \(String(cString: strerror(errno)))") }
        var st = stat()
        let bytes = slots * slotBytes
        guard fstat(rfd, &st) == 0, Int(st.st_size) == bytes else {
            close(rfd)
            throw SharedSlotsError("\(path) has \(st.st_size) bytes, the offer says \(bytes)")
        }
        guard let p = mmap(nil, bytes, PROT_READ, MAP_SHARED, rfd, 0), p != MAP_FAILED else {
            let reason = String(cString: strerror(errno))
            close(rfd)
            throw SharedSlotsError("mmap \(path): \(reason)")
        }
        return SharedSlots(base: p, slots: slots, slotBytes: slotBytes, fd: rfd)
    }

    /// What must match for two processes to share a region: same boot, same PID and network namespaces, same user.
    static let hostKey: String = {
        func read(_ path: String) -> String {
            (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        }
        func link(_ path: String) -> String {
            var buffer = [CChar](repeating: 0, count: 128)
            let n = readlink(path, &buffer, buffer.count - 1)
            guard n > 0 else { return "?" }
            return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return [read("/proc/sys/kernel/random/boot_id"), link("/proc/self/ns/pid"), link("/proc/self/ns/net"),
                "\(getuid())"].joined(separator: "|")
    }()

    /// glibc's memfd_create, looked up at run time (the Glibc module does not export it).
    private static let memfdCreate: (@convention(c) (UnsafePointer<CChar>, UInt32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "memfd_create") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafePointer<CChar>, UInt32) -> Int32).self)
    }()
}

/// Why a shared-memory offer was declined (the link then carries payloads over ZeroMQ as usual).
struct SharedSlotsError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
