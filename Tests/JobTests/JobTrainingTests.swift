import Foundation
import CoordinatorDaemon
import JobCommon
import WorkerDaemon
import MugsModel
import Testing

extension JobTests {
    /// Multi-process tests of the distributed job on loopback: real `mugs-coordinator` and `mugs-worker` binaries, a tiny
    /// model, a synthetic 96-image dataset. Every wait is bounded; every process is SIGKILLed at the end.
    @Suite struct JobTrainingTests {
        /// Loss tolerance between 1 and 2 workers: only the summation order of the gradient all-reduce differs.
        static let lossTolerance = 1e-4
        /// Largest parameter difference after one epoch (12 steps) from the same start (relative to max(1, |w|)): the
        /// summation-order differences of the all-reduce, grown by 12 AdamW steps at `movingConfig`'s lr, measured
        /// 1.5e-4. Halving rank 1's gradient (a mis-scaled split) gave 7.6e-2 and losses off by 1e-2 (2026-12-02).
        static let weightTolerance: Float = 1e-3

        func losses(_ e: [[String: Any]]) -> [Int: Double] {
            var out: [Int: Double] = [:]
            for s in e where s["event"] as? String == "step" { out[s["step"] as! Int] = s["loss_total"] as? Double }
            return out
        }

        /// The tiny model at a learning rate that moves it: no warm-up, lr 0.2 per 256 images (6.25e-3 at batch 8).
        static let movingConfig = JobHarness.tinyConfig.replacingOccurrences(of: "warmup_epochs: 1",
                                                                               with: "warmup_epochs: 0\nlr: 0.2")

        /// Issue tests 1 and 2: 1 worker and 2 workers from the same state and data follow the same trajectory, and after
        /// every step every worker's state hash equals the coordinator's. One epoch (12 steps) at a learning rate that
        /// moves the weights by far more than the tolerance (checked against the initial state), so that a wrong split
        /// — a rank's gradient mis-scaled, a sample trained twice — breaks it (issue 17).
        @Test(.timeLimit(.minutes(3))) func oneAndTwoWorkersAgreeAndHashesMatchEveryStep() throws {
            let steps = 12
            var runs: [(losses: [Int: Double], params: [String: [Float]])] = []
            for workers in [1, 2] {
                let h = try JobHarness(config: Self.movingConfig)
                defer { h.stop() }
                let c = try h.coordinator(["--steps", "\(steps)", "--hash-every", "1", "--min-workers", "\(workers)"])
                let ws = try (0 ..< workers).map { try h.worker("w\($0)") }
                #expect(c.waitForExit(timeout: 120) == 0, "\(c.log)")
                for w in ws { #expect(w.waitForExit(timeout: 20) == 0, "\(w.log)") }
                let e = c.events
                #expect(Set(c.committedSteps(e)) == Set(0 ..< steps))
                #expect(e.filter { $0["event"] as? String == "generation" }.count == 1, "one generation: \(c.log)")
                // Every step: each worker's hash after it == the coordinator's.
                var coordHash: [Int: String] = [:]
                for s in c.events("step") { coordHash[s["step"] as! Int] = s["state_hash"] as? String }
                for w in ws {
                    let applied = w.events("applied")
                    #expect(applied.count == steps, "\(w.name) applied \(applied.count) steps")
                    if workers == 2 {  // co-located workers: both directions of each link use shared memory
                        let links = w.events("ring").compactMap { $0["message"] as? String }.filter { $0.contains("links") }
                        #expect(links.count == 1 && links[0].components(separatedBy: "shared memory").count == 3,
                                "\(w.name): \(links)")
                    }
                    for a in applied {
                        let step = a["step"] as! Int
                        #expect(a["state_hash"] as? String == coordHash[step] && coordHash[step] != nil,
                                "\(w.name) step \(step): \(a["state_hash"] ?? "-") vs coordinator \(coordHash[step] ?? "-")")
                    }
                }
                runs.append((losses(e), try JobHarness.studentParameters(h.checkpointDir)))
            }
            for s in 0 ..< steps {
                let a = runs[0].losses[s] ?? .nan, b = runs[1].losses[s] ?? .nan
                #expect(abs(a - b) <= Self.lossTolerance * max(1, abs(a)), "step \(s) loss 1 worker \(a), 2 workers \(b)")
            }
            var worst: Float = 0, worstName = ""
            for (name, w1) in runs[0].params {
                guard let w2 = runs[1].params[name], w2.count == w1.count else {
                    Issue.record("\(name) missing or mis-shaped in the 2-worker checkpoint")
                    continue
                }
                for i in 0 ..< w1.count {
                    let d = abs(w1[i] - w2[i]) / max(1, abs(w1[i]))
                    if d > worst { worst = d; worstName = name }
                }
            }
            // How far training moved the weights from the job's initial state (same config and seed).
            let config = try ConfigYAML.parse(Self.movingConfig)
            let initial = try JobState.initial(config: config, stepsPerEpoch: 96 / config.batch_size,
                                               seed: UInt64(config.seed))
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("mugs-init-\(UUID())").path
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            try Checkpoint.save(initial, root: scratch)
            let start = try JobHarness.studentParameters(scratch)
            var moved: Float = 0, movedName = ""
            for (name, w0) in start {
                guard let w = runs[0].params[name], w.count == w0.count else { continue }
                for i in 0 ..< w.count {
                    let d = abs(w[i] - w0[i]) / max(1, abs(w0[i]))
                    if d > moved { moved = d; movedName = name }
                }
            }
            print("1 vs 2 workers after \(steps) steps: worst relative weight difference \(worst) (\(worstName)); "
                  + "training moved the weights by up to \(moved) (\(movedName))")
            #expect(worst <= Self.weightTolerance, "worst \(worst) in \(worstName)")
            #expect(moved >= 20 * Self.weightTolerance, "the weights moved by only \(moved): the test could not fail")
            #expect(runs[0].params.count > 10 && start.count == runs[0].params.count)
        }

        /// bf16 (issue 15): two workers' states stay bitwise the coordinator's after every step, as in fp32 — the products
        /// run in bf16, the all-reduced gradient and the update path are fp32 and deterministic. Where this host cannot
        /// run bf16 the test is skipped (the refusal is tested below on every host).
        @Test(.timeLimit(.minutes(3)), .enabled(if: Precision.bf16.unavailableHere == nil, "needs AVX512_BF16 + oneDNN"))
        func bf16WorkersStayBitwiseTheCoordinatorsEveryStep() throws {
            let steps = 6
            let h = try JobHarness(config: Self.movingConfig + "\nprecision: bf16\n")
            defer { h.stop() }
            let c = try h.coordinator(["--steps", "\(steps)", "--hash-every", "1", "--min-workers", "2"])
            let ws = try (0 ..< 2).map { try h.worker("w\($0)") }
            #expect(c.waitForExit(timeout: 120) == 0, "\(c.log)")
            for w in ws { #expect(w.waitForExit(timeout: 20) == 0, "\(w.log)") }
            #expect(Set(c.committedSteps(c.events)) == Set(0 ..< steps))
            #expect(c.events("precision").first?["precision"] as? String == "bf16", "\(c.log)")
            var coordHash: [Int: String] = [:]
            for s in c.events("step") { coordHash[s["step"] as! Int] = s["state_hash"] as? String }
            for w in ws {
                #expect(w.events("precision").first?["precisions"] as? String == "fp32,bf16", "\(w.log)")
                let applied = w.events("applied")
                #expect(applied.count == steps, "\(w.name) applied \(applied.count) steps")
                for a in applied {
                    let step = a["step"] as! Int
                    #expect(a["state_hash"] as? String == coordHash[step] && coordHash[step] != nil,
                            "\(w.name) step \(step): \(a["state_hash"] ?? "-") vs coordinator \(coordHash[step] ?? "-")")
                }
            }
        }

        /// A bf16 job refuses a worker that cannot run bf16 (here: one forced onto OpenBLAS, on any CPU), naming the
        /// worker and why; the worker exits 1 with the reason in its log, and the job goes on with the others.
        @Test(.timeLimit(.minutes(2))) func aWorkerThatCannotRunTheJobsPrecisionIsRefused() throws {
            let h = try JobHarness(config: JobHarness.tinyConfig + "\nprecision: bf16\n")
            defer { h.stop() }
            let c = try h.coordinator(["--steps", "100000"])
            let w = try h.worker("fp32only", ["--gemm", "openblas"])
            #expect(w.waitForExit(timeout: 30) == 1, "\(w.log)")
            #expect(w.log.contains("cannot run this job's precision bf16"), "\(w.log)")
            #expect(w.log.contains("engine in use is openblas") || w.log.contains("AVX512_BF16"), "\(w.log)")
            let refused = try c.waitFor("the refusal logged", timeout: 20) { e in
                e.contains { ($0["message"] as? String)?.contains("worker fp32only") == true
                             && $0["event"] as? String == "refused" }
            }
            #expect(!refused.isEmpty)
            #expect(c.committedSteps(c.events).isEmpty, "no step without a worker that can run it")
        }

        /// Issue test 3: SIGKILL a worker mid-step. The job continues with the other within the detection bound, and every
        /// sample of the epoch is in exactly one committed step.
        @Test(.timeLimit(.minutes(3))) func killedWorkerIsReplacedAndNoSampleIsLostOrRepeated() throws {
            let h = try JobHarness(images: 800)
            defer { h.stop() }
            let steps = 100 // one epoch of 800 images, batch 8
            let c = try h.coordinator(["--steps", "\(steps)", "--log-samples", "--min-workers", "1"])
            let w0 = try h.worker("w0"), w1 = try h.worker("w1")
            try c.waitFor("a 2-worker generation with 3 committed steps", timeout: 60) { e in
                e.contains { $0["event"] as? String == "generation" && $0["world"] as? Int == 2 }
                    && c.committedSteps(e).count >= 3
            }
            _ = w0
            w1.signal(SIGKILL)
            let killedAt = Date()
            let before = c.committedSteps(c.events).count
            try c.waitFor("a commit after the kill", timeout: 30) { c.committedSteps($0).count > before }
            let recovery = Date().timeIntervalSince(killedAt)
            print("worker SIGKILLed: next commit after \(recovery) s")
            // Detection: heartbeat timeout 2 s or ring timeout 2 s, then a new generation (state already in place).
            #expect(recovery < 15, "recovered in \(recovery) s")
            #expect(c.waitForExit(timeout: 60) == 0, "\(c.log)")
            let e = c.events
            let committed = c.events("step")
            #expect(committed.map { $0["step"] as! Int }.sorted() == Array(0 ..< steps), "each step committed once")
            let samples = committed.flatMap { ($0["samples"] as? [Int]) ?? [] }
            #expect(samples.count == steps * 8)
            #expect(Set(samples).count == samples.count, "a sample is in two committed steps")
            #expect(Set(samples) == Set(0 ..< 800), "the epoch's samples, each exactly once")
            #expect(e.contains { $0["event"] as? String == "generation" && $0["world"] as? Int == 1 }, "re-formed ring of 1")
        }

        /// Issue test 4: a worker joins mid-run and gets the state; a SIGSTOPped worker is detected and evicted.
        @Test(.timeLimit(.minutes(3))) func lateJoinerGetsTheStateAndAStoppedWorkerIsEvicted() throws {
            let h = try JobHarness()
            defer { h.stop() }
            let c = try h.coordinator(["--steps", "100000", "--min-workers", "1", "--hash-every", "2"])
            let w0 = try h.worker("w0")
            try c.waitFor("3 steps with one worker", timeout: 60) { c.committedSteps($0).count >= 3 }
            let w1 = try h.worker("w1")
            try c.waitFor("a 2-worker generation", timeout: 60) { e in
                e.contains { $0["event"] as? String == "generation" && $0["world"] as? Int == 2 }
            }
            try w1.waitFor("the late joiner loading the state", timeout: 30) { e in
                e.contains { ($0["message"] as? String)?.hasPrefix("loaded the state") == true }
            }
            try w1.waitFor("the late joiner applying steps", timeout: 30) { $0.contains { $0["event"] as? String == "applied" } }
            let joinedStep = (w1.events("applied").first?["step"] as? Int) ?? -1
            #expect(joinedStep >= 3, "the late joiner entered at a step boundary after the first steps")
            w0.signal(SIGSTOP)
            let stoppedAt = Date()
            try c.waitFor("the stopped worker evicted", timeout: 20) { e in
                e.contains { $0["event"] as? String == "evict" && ($0["message"] as? String)?.hasPrefix("w0") == true }
            }
            print("SIGSTOPped worker evicted after \(Date().timeIntervalSince(stoppedAt)) s")
            let n = c.committedSteps(c.events).count
            try c.waitFor("progress without the stopped worker", timeout: 30) { c.committedSteps($0).count >= n + 2 }
            #expect(try h.control("stop") == 202)
            #expect(c.waitForExit(timeout: 90) == 0, "\(c.log)")
            #expect(!c.log.contains("differs"), "a state hash differed:\n\(c.log)")
            w0.kill()
        }

        /// SIGTERM makes a worker leave cleanly (exit 0) without breaking the job; below --min-workers the job waits and
        /// says so, and resumes when a worker joins.
        @Test(.timeLimit(.minutes(3))) func terminatedWorkerLeavesAndTheJobWaitsBelowMinWorkers() throws {
            let h = try JobHarness()
            defer { h.stop() }
            let c = try h.coordinator(["--steps", "100000", "--min-workers", "2"])
            let w0 = try h.worker("w0"), w1 = try h.worker("w1")
            try c.waitFor("2 committed steps", timeout: 60) { c.committedSteps($0).count >= 2 }
            w1.signal(SIGTERM)
            #expect(w1.waitForExit(timeout: 20) == 0, "SIGTERM is a clean exit:\n\(w1.log)")
            try c.waitFor("the leave and the wait", timeout: 20) { e in
                e.contains { $0["event"] as? String == "leave" }
                    && e.contains { ($0["message"] as? String)?.hasPrefix("waiting: 1 live worker(s), --min-workers is 2") == true }
            }
            let stalled = c.committedSteps(c.events).count
            #expect(try h.status().state == "waiting")
            let w2 = try h.worker("w2")
            try c.waitFor("progress with the new worker", timeout: 60) { c.committedSteps($0).count >= stalled + 3 }
            #expect(try h.control("stop") == 202)
            #expect(c.waitForExit(timeout: 90) == 0, "\(c.log)")
            let committed = c.committedSteps(c.events)
            #expect(Set(committed) == Set(0 ..< committed.count), "steps 0..<\(committed.count), each once")
            #expect(w0.waitForExit(timeout: 20) == 0 && w2.waitForExit(timeout: 20) == 0)
        }
    }
}
