/// The generation changes of a run, read from the coordinator machine's actions (the machine is not changed for
/// them): every `.startGeneration` is a new ring, `.abortGeneration` an abort, `.evict` a worker dropped (silent,
/// failing) or refused (too many workers, job finished).
extension RunHistory {
    /// Marks the generation changes in one batch of the machine's actions, at `step` committed steps and `unixTime`.
    /// `name` gives a worker's name as the dashboard shows it (the service's `host (name)`); it is asked before the
    /// service forgets an evicted worker.
    public mutating func observe(_ actions: [CoordinatorAction], step: Int, unixTime: Double,
                                 name: (CoordinatorMachine.WorkerID) -> String) {
        for action in actions {
            switch action {
            case let .startGeneration(g, ring, _):
                let names = ring.map(name)
                let joined = names.filter { !lastRing.contains($0) }
                let left = lastRing.filter { !names.contains($0) }
                var text = "generation \(g): ring of \(ring.count)"
                if !joined.isEmpty { text += ", joined " + joined.joined(separator: ", ") }
                if !left.isEmpty { text += ", left " + left.joined(separator: ", ") }
                mark(Mark(kind: .generation, step: step, unixTime: unixTime, generation: g, ringSize: ring.count,
                          joined: joined, left: left, text: text))
                setLastRing(names)
            case let .abortGeneration(g, reason):
                mark(Mark(kind: .abort, step: step, unixTime: unixTime, generation: g,
                          text: "generation \(g) aborted: \(reason)"))
            case let .evict(id, reason):
                let g = marks.last?.generation ?? 0
                mark(Mark(kind: .evict, step: step, unixTime: unixTime, generation: g,
                          text: "\(name(id)) evicted: \(reason)"))
            default:
                break
            }
        }
    }
}
