/// Every message of the system as a Swift value.
public enum Message: Sendable, Equatable {
    case join(Join)
    case heartbeat(Heartbeat)
    case stepPlan(StepPlan)
    case commit(Commit)
    case stateTransfer(StateTransfer)
    case reducedChunk(ReducedChunk)
    case ringHello(RingHello)
    case ringCredit(RingCredit)
    case ringSegment(RingSegment)
    case ringAbort(RingAbort)
    case ringSharedOffer(RingSharedOffer)
    case ringSharedSegment(RingSharedSegment)
    /// The distributed job's control messages.
    case job(JobMessage)

    public var type: MessageType {
        switch self {
        case .join: return .join
        case .heartbeat: return .heartbeat
        case .stepPlan: return .stepPlan
        case .commit: return .commit
        case .stateTransfer: return .stateTransfer
        case .reducedChunk: return .reducedChunk
        case .ringHello: return .ringHello
        case .ringCredit: return .ringCredit
        case .ringSegment: return .ringSegment
        case .ringAbort: return .ringAbort
        case .ringSharedOffer: return .ringSharedOffer
        case .ringSharedSegment: return .ringSharedSegment
        case let .job(m): return m.type
        }
    }
}

extension MessageType {
    /// Whether messages of this type carry a body frame (structured fields) and a data frame (raw numbers).
    public var frames: (body: Bool, data: Bool) {
        switch self {
        case .join, .heartbeat, .stepPlan, .commit, .ringAbort, .ringSharedOffer, .ringSharedSegment:
            return (true, false)
        case .stateTransfer, .reducedChunk: return (true, true)
        case .ringSegment: return (false, true)
        case .ringHello, .ringCredit: return (false, false)
        default: return JobMessage.frames(self) ?? (false, false)
        }
    }
}

/// A message with its routing context: which job and generation it belongs to, the step, and the sender's rank.
/// Receivers drop envelopes whose job or generation is not theirs.
public struct Envelope: Sendable, Equatable {
    public var jobID: UInt64
    public var generation: UInt64
    public var step: UInt64
    public var sender: UInt32
    public var message: Message

    public init(jobID: UInt64, generation: UInt64, step: UInt64 = 0, sender: UInt32 = 0, message: Message) {
        self.jobID = jobID
        self.generation = generation
        self.step = step
        self.sender = sender
        self.message = message
    }
}
