/// Why a worker could not set up its side of a generation's ring, as it reports it to the coordinator
/// (`JobMessage.ringSetupFailed`). The kind says who is at fault, so the coordinator can evict the right worker instead
/// of re-forming the same ring forever: the reporter itself (`cannotBind`, `localSetup`), the peer named
/// (`peerUnreachable`: no TCP connection to its data endpoint ever came up), or nobody for sure (`peerSilent`: the
/// connection came up but the ring handshake did not complete).
public struct RingSetupFailure: Sendable, Equatable {
    public enum Kind: UInt8, Sendable, CaseIterable {
        /// The reporter cannot bind its data endpoint (an address no interface of its machine has, a port in use, a
        /// host name where a numeric address or interface is needed).
        case cannotBind = 1
        /// The reporter's own side failed otherwise (its loader, an endpoint it cannot parse).
        case localSetup = 2
        /// No TCP connection to the named peer's data endpoint came up within the ring's join timeout.
        case peerUnreachable = 3
        /// The named neighbour did not complete the ring handshake (hello, first credit) within the join timeout.
        case peerSilent = 4
    }

    /// Longest `detail` and `endpoint` encoded (longer ones are cut; the decoder's string limit is 4096 bytes).
    public static let maxText = 1000

    public var kind: Kind
    /// The ring rank of the peer named, or -1.
    public var peerRank: Int32
    /// The endpoint concerned: the address the reporter tried to bind, or the named peer's data endpoint.
    public var endpoint: String
    /// What failed, as the reporter saw it, e.g. `zmq_bind tcp://10.0.0.9:5601 failed: Cannot assign requested
    /// address (errno 99)`.
    public var detail: String

    public init(kind: Kind, peerRank: Int32 = -1, endpoint: String, detail: String) {
        self.kind = kind; self.peerRank = peerRank; self.endpoint = endpoint; self.detail = detail
    }
}

/// An image a worker's loader could not read (and replaced by the next readable one), reported once per file.
public struct UnreadableFile: Sendable, Equatable {
    /// Most files per `unreadableFiles` message.
    public static let maxPerMessage = 256

    /// The file's path (an ImageFolder's root joined with its relative path) or `spec#index`.
    public var path: String
    /// Why it cannot be read, e.g. `empty file` or `libjpeg: Premature end of JPEG file`.
    public var reason: String

    public init(path: String, reason: String) { self.path = path; self.reason = reason }
}
