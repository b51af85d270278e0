/// Counters of one ring, for logs and tests.
public struct RingStatistics: Sendable, Equatable {
    /// Messages dropped: not mugs wire format, another job, another generation, or not from the expected peer.
    public var droppedMessages = 0
    public var segmentsSent = 0
    public var segmentsReceived = 0
    public var payloadBytesSent = 0
    public var payloadBytesReceived = 0
    /// Completed collective operations.
    public var operations = 0
    /// Segments whose bytes went through shared memory (co-located neighbours), of the counts above.
    public var sharedSegmentsSent = 0
    public var sharedSegmentsReceived = 0
    /// Why this rank did not map its predecessor's shared-memory offer (nil: accepted, or none was made).
    public var sharedMemoryDeclined: String? = nil
}
