import Foundation
import JobCommon
import MugsData
import MugsModel
import Sampling
import Transport
import Wire
import WorkerCore

/// One planned step on a worker: the same LOCAL and APPLY code as the single-process step, with the ring between.
extension WorkerService {
    /// Floats per reduced-chunk message (1 MiB).
    static let chunkFloats = 1 << 18

    /// Runs planned step `p` on the open ring; true when it was applied (the cache is at `p.step + 1`), false when the
    /// generation is over for this worker (the failure is logged and, where the coordinator needs it, reported).
    func runStep(_ p: PlannedStep) -> Bool {
        guard let j = job, let ring, let loader else { return false }
        let t0 = ProcessLifecycle.now()
        let batch: CropBatch
        do { batch = try loader.next() } catch {
            log.log("error", "step \(p.step): loading the slice failed: \(error)")
            send(.job(.ringFailed(peerRank: -1, reason: "\(settings.workerID) cannot load its slice: \(error)")),
                 generation: p.generation, step: p.step)
            return false
        }
        defer { loader.recycle(batch) }
        reportUnreadableFiles(loader)
        guard batch.tag == p.step, batch.count == p.indices.count else {
            log.log("error", "loader returned step \(batch.tag) for step \(p.step)")
            return false
        }
        let b = batch.count, c = j.config
        do {
            let (local, out) = try stepBuffers(b: b, config: c)
            seedScratch.removeAll(keepingCapacity: true); weakScratch.removeAll(keepingCapacity: true)
            for i in 0 ..< b { seedScratch.append(batch.dropPathSeed[i]); weakScratch.append(batch.weak[i] != 0) }
            let seeds = seedScratch, weak = weakScratch
            let G = c.global_crop_size, l = c.local_crop_size, L = c.local_crops_number
            let crops = SliceCrops(teacherGlobal: UnsafeBufferPointer(start: batch.teacherGlobal, count: 2 * b * 3 * G * G),
                                   studentGlobal: UnsafeBufferPointer(start: batch.studentGlobal, count: 2 * b * 3 * G * G),
                                   studentLocal: UnsafeBufferPointer(start: batch.studentLocal, count: L * b * 3 * l * l),
                                   weak: weak)
            let state = j.state
            // LOCAL: the slice's gradients, centre and loss sums, entries.
            var meter = GemmMeter()
            try local.run(studentParams: state.student, teacherParams: state.teacher, memories: state.memories,
                          center: state.center.base, crops: crops, dropPath: .seeds(seeds), globalBatch: c.batch_size,
                          teacherTemperature: state.schedules.teacherTemperature(epoch: state.epoch), into: out,
                          pool: pool)
            let gemmRate = meter.lap(threads: settings.threads)
            send(.job(.sliceEntries(EntriesCodec.message(out.entries))), generation: p.generation, step: p.step)
            // Ring: all-reduce of the fused buffer (the owned chunk goes to the coordinator as soon as it is final),
            // then all-gather of every rank's entries.
            let fused = out.fused
            let firstOnRing = ring.statistics.operations == 0
            try ring.allReduce(fused.all, keepingAlive: fused, step: UInt64(p.step)) { range in
                self.sendChunk(fused, range: range, plan: p)
            }
            let blockBytes = EntriesCodec.blockBytes(b: b, config: c)
            if entriesBlockBytes < blockBytes {
                entriesBlock?.deallocate()
                entriesBlock = .allocate(byteCount: blockBytes, alignment: 64)
                entriesBlockBytes = blockBytes
            }
            let n = EntriesCodec.pack(out.entries, into: entriesBlock!)
            try ring.allGather(UnsafeRawBufferPointer(start: entriesBlock!, count: n), into: gathered, step: UInt64(p.step))
            if firstOnRing { log.log("ring", "generation \(p.generation) links: \(ring.linkSummary)") }
            func capacity(_ r: Int) -> Int {
                max(1, EpochPlan.slice(rank: r, worldSize: p.worldSize, batch: c.batch_size).count)
            }
            if rankEntries.count != p.worldSize
                || rankEntries.indices.contains(where: { rankEntries[$0].capacity != capacity($0) }) {
                rankEntries = (0 ..< p.worldSize).map { StepEntries(capacity: capacity($0), config: c) }
            }
            for r in 0 ..< p.worldSize { try EntriesCodec.unpack(gathered.block(r), into: rankEntries[r]) }
            // APPLY: the same update the coordinator applies to its copy.
            let t1 = ProcessLifecycle.now()
            try state.applyUpdate(fused: fused, entries: rankEntries)
            let every = Int(j.welcome.hashEvery)
            let hashed = every > 0 && (p.step + 1) % every == 0
            let hash = hashed ? state.stateHash() : 0
            let t2 = ProcessLifecycle.now()
            send(.job(.stepApplied(stateHash: hash, hashed: hashed, seconds: t2 - t0)), generation: p.generation,
                 step: p.step)
            shared.evictionsInARow = 0
            let dt = lastStepEnd.map { t2 - $0 } ?? (t2 - t0)
            lastStepEnd = t2
            shared.imagesPerSecond = Double(b) / max(dt, 1e-9)
            if let g = gemmRate { shared.gemmGflopPerSecond = g.gflopPerSecond }
            if settings.logFormat == .json || t2 - lastAppliedLog >= 30 {
                lastAppliedLog = t2
                var fields: [(String, JobLog.Value)] = [("step", .int(p.step)), ("generation", .int(p.generation)),
                                                        ("rank", .int(p.rank)), ("seconds", .double(t2 - t0)),
                                                        ("apply_seconds", .double(t2 - t1))]
                if hashed { fields.append(("state_hash", .string(String(format: "%016llx", hash)))) }
                if let g = gemmRate { fields.append(("gemm_gflop_per_second", .double(g.gflopPerSecond))) }
                log.log("applied", String(format: "step %d applied (rank %d of %d, %d images, %.3f s, %.1f img/s, "
                                          + "gemm %.0f GFLOP/s)", p.step, p.rank, p.worldSize, b, t2 - t0,
                                          shared.imagesPerSecond, gemmRate?.gflopPerSecond ?? 0), fields)
            }
            return true
        } catch RingError.interrupted(let reason) {
            // The coordinator has moved on (its message is next in the inbox); nothing to report.
            log.log("ring", "generation \(p.generation) step \(p.step): left the ring: \(reason)")
        } catch let e as RingError {
            if let f = Self.setupFailure(e) {
                reportSetupFailure(f, generation: p.generation, step: p.step)
            } else {
                log.log("ring", "generation \(p.generation) step \(p.step): \(e)")
                send(.job(.ringFailed(peerRank: Int32(e.failedRank ?? -1), reason: "\(e)")), generation: p.generation,
                     step: p.step)
            }
        } catch {
            log.log("error", "step \(p.step): \(error)")
            send(.job(.ringFailed(peerRank: -1, reason: "\(settings.workerID): \(error)")), generation: p.generation,
                 step: p.step)
        }
        return false
    }

    /// The LOCAL step planned for slices of `b` images, built once per slice size.
    private func stepBuffers(b: Int, config c: MugsConfig) throws -> (TrainStep, StepBuffers) {
        if let s = steps[b] { return s }
        let local = try TrainStep(config: c, b: b, pool: pool)
        let s = (step: local, out: local.makeBuffers())
        steps[b] = s
        return s
    }

    /// Sends the owned, fully reduced range of the fused buffer in ≤ 1 MiB messages.
    private func sendChunk(_ fused: ParameterBuffer, range: Range<Int>, plan p: PlannedStep) {
        var o = range.lowerBound
        repeat {
            let n = min(Self.chunkFloats, range.upperBound - o)
            chunkScratch.removeAll(keepingCapacity: true)
            chunkScratch.append(contentsOf: UnsafeBufferPointer(start: fused.base + o, count: n))
            send(.reducedChunk(ReducedChunk(offset: UInt64(o), totalCount: UInt64(fused.count), values: chunkScratch)),
                 generation: p.generation, step: p.step)
            o += n
        } while o < range.upperBound
    }
}
