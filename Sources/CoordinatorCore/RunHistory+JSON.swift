import Foundation

/// The two encodings of a history: what `GET /history` serves (means, rows ready for a chart; docs/OPERATIONS.md),
/// and what a checkpoint stores (sums and counts, so a resumed coordinator merges exactly as an uninterrupted one).
extension RunHistory {
    /// Schema of both encodings.
    public static let schemaVersion = 1

    /// A served series: `columns` names each row's entries, `rows` are its points oldest first.
    struct ServedSeries: Encodable {
        var span: Int
        var records: Int
        var columns: [String]
        var rows: [[Double?]]
    }

    struct Served: Encodable {
        var schemaVersion: Int
        var capacity: Int
        var steps: ServedSeries
        var onlineKnn: ServedSeries
        var marks: [Mark]
        var marksDropped: Int
        var checkpoints: [CheckpointMark]
        var checkpointsDropped: Int
    }

    static func served(_ s: Series) -> ServedSeries {
        ServedSeries(span: s.span, records: s.records,
                     columns: ["step", "first_step", "count", "unix_time"] + s.columns,
                     rows: s.points.map { p -> [Double?] in
                         let head: [Double?] = [Double(p.step), Double(p.firstStep), Double(p.count), p.unixTime]
                         return head + p.means
                     })
    }

    /// The JSON `GET /history` serves (sorted keys, snake_case; a row's entry is null when none of its records had a
    /// finite value).
    public func servedJSON() -> String {
        let body = Served(schemaVersion: Self.schemaVersion, capacity: capacity, steps: Self.served(steps),
                          onlineKnn: Self.served(onlineKNN), marks: marks, marksDropped: marksDropped,
                          checkpoints: checkpoints, checkpointsDropped: checkpointsDropped)
        return Self.encode(body)
    }

    /// The JSON a checkpoint stores (the whole value, schema-versioned).
    public func storedJSON() -> String {
        Self.encode(Stored(schemaVersion: Self.schemaVersion, history: self))
    }

    struct Stored: Codable {
        var schemaVersion: Int
        var history: RunHistory
    }

    /// A problem with a stored history; the coordinator starts a new history and says why.
    public struct StoreError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Reads what `storedJSON` wrote, checking every invariant the value relies on (a damaged or foreign text is an
    /// error, never a crash later).
    public static func decodeStored(_ text: String) throws(StoreError) -> RunHistory {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        let stored: Stored
        do { stored = try d.decode(Stored.self, from: Data(text.utf8)) } catch {
            throw StoreError(description: "not a stored history: \(error)")
        }
        guard stored.schemaVersion == schemaVersion else {
            throw StoreError(description: "schema version \(stored.schemaVersion), this build reads "
                                + "\(schemaVersion)")
        }
        let h = stored.history
        guard h.capacity >= 2, h.capacity % 2 == 0 else { throw StoreError(description: "capacity \(h.capacity)") }
        try check(h.steps, columns: stepColumns, capacity: h.capacity, name: "steps")
        try check(h.onlineKNN, columns: knnColumns, capacity: h.capacity, name: "online_knn")
        guard h.marks.count <= h.capacity, h.checkpoints.count <= h.capacity, h.marksDropped >= 0,
              h.checkpointsDropped >= 0 else {
            throw StoreError(description: "more marks or checkpoints than its capacity \(h.capacity)")
        }
        return h
    }

    private static func check(_ s: Series, columns: [String], capacity: Int, name: String) throws(StoreError) {
        func fail(_ why: String) -> StoreError { StoreError(description: "series \(name): \(why)") }
        guard s.columns == columns else { throw fail("columns \(s.columns), expected \(columns)") }
        guard s.capacity == capacity else { throw fail("capacity \(s.capacity), the history's is \(capacity)") }
        guard s.span >= 1, s.span & (s.span - 1) == 0 else { throw fail("span \(s.span) is not a power of two") }
        guard s.points.count <= capacity else { throw fail("\(s.points.count) points, capacity \(capacity)") }
        var total = 0, previous = Int.min
        for (i, p) in s.points.enumerated() {
            guard p.sums.count == columns.count, p.finite.count == columns.count,
                  zip(p.finite, p.sums).allSatisfy({ (0 ... p.count).contains($0.0) && $0.1.isFinite }) else {
                throw fail("point \(i) has malformed sums or counts")
            }
            let full = i == s.points.count - 1 ? (1 ... s.span).contains(p.count) : p.count == s.span
            guard full, p.firstStep <= p.step, p.firstStep > previous else {
                throw fail("point \(i) (steps \(p.firstStep)…\(p.step), \(p.count) records) breaks the thinning rule")
            }
            previous = p.step
            total += p.count
        }
        guard total == s.records else { throw fail("\(total) records in its points, \(s.records) counted") }
    }

    static func encode<T: Encodable>(_ value: T) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.keyEncodingStrategy = .convertToSnakeCase
        // Sums and times are finite by construction; a stray non-finite value must not lose the whole history.
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf",
                                                                nan: "nan")
        return String(decoding: (try? e.encode(value)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
