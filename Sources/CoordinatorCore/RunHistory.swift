/// The picture of a run that the dashboard draws (`GET /history`): per committed step the losses, schedules,
/// throughput and ring size; the online kNN results; the generation changes (new rings with who joined and left,
/// aborts, evictions); the checkpoints. A pure value — no clock, no I/O: the service passes in steps and times,
/// encodes it for the control port and stores it in each checkpoint's state.json (`RunHistory+JSON`), so a restarted
/// coordinator goes on with the history of the checkpoint it resumes.
///
/// Bounded: every series holds at most `capacity` points however long the run (`Series` says how older points are
/// merged), the lists of marks and checkpoints keep their newest `capacity` entries and count the ones dropped.
public struct RunHistory: Sendable, Equatable, Codable {
    /// The most points a series holds, and entries a list keeps, unless told otherwise.
    public static let defaultCapacity = 2000

    /// Columns of `steps`, in order: the losses by granularity and their weighted total, the schedules of the step,
    /// the throughput (images of the step / seconds since the previous commit) and the workers in the ring.
    public static let stepColumns = ["loss_instance", "loss_local_group", "loss_group", "loss_total", "lr",
                                     "weight_decay", "teacher_momentum", "teacher_temperature", "images_per_second",
                                     "ring_size"]
    /// Columns of `onlineKNN`: accuracies in percent, as `/status` shows them.
    public static let knnColumns = ["top1", "top5"]

    /// A generation change, placed at the committed step and the wall time it happened at.
    public struct Mark: Sendable, Equatable, Codable {
        public enum Kind: String, Sendable, Codable {
            /// A new ring: `ringSize` workers; `joined`/`left` against the ring before it.
            case generation
            /// The generation's in-flight steps were dropped (`text` says why).
            case abort
            /// A worker was dropped or refused (`text` says why).
            case evict
        }

        public var kind: Kind
        /// Committed steps when it happened.
        public var step: Int
        public var unixTime: Double
        public var generation: Int
        public var ringSize: Int?
        public var joined: [String]
        public var left: [String]
        public var text: String

        public init(kind: Kind, step: Int, unixTime: Double, generation: Int, ringSize: Int? = nil,
                    joined: [String] = [], left: [String] = [], text: String) {
            self.kind = kind; self.step = step; self.unixTime = unixTime; self.generation = generation
            self.ringSize = ringSize; self.joined = joined; self.left = left; self.text = text
        }

        enum CodingKeys: String, CodingKey { case kind, step, unixTime, generation, ringSize, joined, left, text }

        /// Every key always present: `ring_size` is null for marks other than `generation`.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(kind, forKey: .kind)
            try c.encode(step, forKey: .step)
            try c.encode(unixTime, forKey: .unixTime)
            try c.encode(generation, forKey: .generation)
            try c.encode(ringSize, forKey: .ringSize)
            try c.encode(joined, forKey: .joined)
            try c.encode(left, forKey: .left)
            try c.encode(text, forKey: .text)
        }
    }

    /// A checkpoint written: the committed steps it holds, when, and where.
    public struct CheckpointMark: Sendable, Equatable, Codable {
        public var step: Int
        public var unixTime: Double
        public var path: String
        public init(step: Int, unixTime: Double, path: String) {
            self.step = step; self.unixTime = unixTime; self.path = path
        }
    }

    public let capacity: Int
    /// One record per committed step (`stepColumns`).
    public private(set) var steps: Series
    /// One record per online kNN result (`knnColumns`), at the step of the teacher evaluated.
    public private(set) var onlineKNN: Series
    public private(set) var marks: [Mark] = []
    public private(set) var marksDropped = 0
    public private(set) var checkpoints: [CheckpointMark] = []
    public private(set) var checkpointsDropped = 0
    /// The workers (as named in marks) of the last ring formed, to tell who joined and who left at the next one.
    public private(set) var lastRing: [String] = []

    /// An empty history; `capacity` must be even and ≥ 2.
    public init(capacity: Int = RunHistory.defaultCapacity) {
        precondition(capacity >= 2 && capacity % 2 == 0, "history capacity \(capacity) must be even and ≥ 2")
        self.capacity = capacity
        steps = Series(columns: Self.stepColumns, capacity: capacity)
        onlineKNN = Series(columns: Self.knnColumns, capacity: capacity)
    }

    /// The last committed step recorded (0 when none).
    public var lastStep: Int { max(steps.points.last?.step ?? 0, marks.last?.step ?? 0, checkpoints.last?.step ?? 0) }

    /// Records committed step `step` (the count of steps committed after it) in the order of `stepColumns`.
    public mutating func recordStep(_ step: Int, unixTime: Double, values: [Double]) {
        steps.append(step: step, unixTime: unixTime, values: values)
    }

    /// Records an online kNN result of the teacher at `step` (top-1, top-5 in percent).
    public mutating func recordOnlineKNN(step: Int, unixTime: Double, top1: Double, top5: Double) {
        onlineKNN.append(step: step, unixTime: unixTime, values: [top1, top5])
    }

    public mutating func recordCheckpoint(_ c: CheckpointMark) {
        checkpoints.append(c)
        if checkpoints.count > capacity {
            checkpoints.removeFirst()
            checkpointsDropped += 1
        }
    }

    public mutating func mark(_ m: Mark) {
        marks.append(m)
        if marks.count > capacity {
            marks.removeFirst()
            marksDropped += 1
        }
    }

    /// Sets the ring that the next generation mark is compared with (`RunHistory+Machine`).
    mutating func setLastRing(_ names: [String]) { lastRing = names }

    /// `onlineKnn` so that its snake_case key `online_knn` decodes back (`.convertFromSnakeCase`).
    enum CodingKeys: String, CodingKey {
        case capacity, steps, onlineKNN = "onlineKnn", marks, marksDropped, checkpoints, checkpointsDropped, lastRing
    }
}

extension RunHistory {
    /// A series thinned to at most `capacity` points, merging older points as the run grows. The rule:
    ///
    /// * Records arrive one at a time (one per committed step, or per online kNN result) and are gathered into points
    ///   of `span` consecutive records; `span` starts at 1. The newest point may hold fewer than `span` (it is open,
    ///   and served like the others, so the dashboard sees every step as it commits).
    /// * When a record would open point number `capacity + 1`, every two neighbouring points are merged into one
    ///   (points 0+1, 2+3, …) and `span` doubles: `capacity / 2` points remain, and the record opens the next.
    /// * A merged value is the mean of the finite values of its records (a diverged loss or an unknown throughput is
    ///   left out; a point with none is null); `first_step`/`step` are its first and last record's step,
    ///   `unix_time` the last record's time.
    ///
    /// So a series never holds more than `capacity` points, every point but the newest covers exactly `span`
    /// records (a power of two), and the whole run is at one resolution: after n records, span is the least power
    /// of two with ⌈n / span⌉ ≤ capacity.
    public struct Series: Sendable, Equatable, Codable {
        public struct Point: Sendable, Equatable, Codable {
            public var firstStep: Int
            public var step: Int
            /// Records merged into this point.
            public var count: Int
            public var unixTime: Double
            /// Per column: the sum of the finite values and how many there were.
            public var sums: [Double]
            public var finite: [Int]

            /// Per column: the mean of the finite values, nil if there were none.
            public var means: [Double?] { zip(sums, finite).map { $1 > 0 ? $0 / Double($1) : nil } }

            init(step: Int, unixTime: Double, values: [Double]) {
                firstStep = step; self.step = step; count = 1; self.unixTime = unixTime
                sums = values.map { $0.isFinite ? $0 : 0 }
                finite = values.map { $0.isFinite ? 1 : 0 }
            }

            /// `self` followed by `later`.
            mutating func absorb(_ later: Point) {
                step = later.step; count += later.count; unixTime = later.unixTime
                for c in sums.indices {
                    sums[c] += later.sums[c]
                    finite[c] += later.finite[c]
                }
            }
        }

        public let columns: [String]
        public let capacity: Int
        /// Records per point (a power of two); the newest point may hold fewer.
        public private(set) var span = 1
        public private(set) var points: [Point] = []
        /// Records appended in total.
        public private(set) var records = 0

        public init(columns: [String], capacity: Int) {
            precondition(capacity >= 2 && capacity % 2 == 0, "series capacity \(capacity) must be even and ≥ 2")
            self.columns = columns
            self.capacity = capacity
        }

        public mutating func append(step: Int, unixTime: Double, values: [Double]) {
            precondition(values.count == columns.count, "\(values.count) values for \(columns.count) columns")
            let record = Point(step: step, unixTime: unixTime, values: values)
            records += 1
            if let last = points.indices.last, points[last].count < span {
                points[last].absorb(record)
                return
            }
            if points.count == capacity { halve() }
            points.append(record)
        }

        /// Merges neighbouring points pairwise and doubles the span (only ever with every point full).
        mutating func halve() {
            var merged: [Point] = []
            merged.reserveCapacity(capacity)
            for i in stride(from: 0, to: points.count, by: 2) {
                var p = points[i]
                if i + 1 < points.count { p.absorb(points[i + 1]) }
                merged.append(p)
            }
            points = merged
            span *= 2
        }
    }
}
