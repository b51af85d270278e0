import ControlPort
import Foundation
import CoordinatorDaemon
import JobCommon
import WorkerDaemon
import MugsModel
import Testing
import Transport
import Wire

extension JobTests {
    /// The coordinator's side of failures: SIGKILL and restart on the same checkpoint directory, a kill while a
    /// checkpoint is being written, and the control port.
    @Suite struct JobRecoveryTests {
        /// Issue test 5: SIGKILL the coordinator between checkpoints, restart it on the same checkpoint dir: it resumes
        /// from the last checkpoint, the running workers rejoin without being restarted, and the steps committed after
        /// that checkpoint are redone as the same steps — the same losses and, on a ring of the same rank order, the
        /// same state hash bit for bit (docs/OPERATIONS.md "What is kept"). With one worker the rings always match,
        /// so the bitwise check always runs; with two the rank order depends on who rejoins first.
        @Test(.timeLimit(.minutes(3)), arguments: [1, 2])
        func restartedCoordinatorResumesWorkersRejoinAndRedoneStepsAreTheSame(workers: Int) throws {
            let h = try JobHarness()
            defer { h.stop() }
            let steps = 40
            let args = ["--steps", "\(steps)", "--checkpoint-every", "3", "--hash-every", "1",
                        "--min-workers", "\(workers)"]
            let c1 = try h.coordinator(args)
            let ws = try (0 ..< workers).map { try h.worker("w\($0)") }
            // Killed between checkpoints: after one at step ≥ 6 and at least one more committed step.
            try c1.waitFor("a checkpoint at step ≥ 6 and a step after it", timeout: 90) { e in
                let written = e.filter { $0["event"] as? String == "checkpoint"
                    && ($0["message"] as? String ?? "").hasPrefix("checkpoint written") }.compactMap { $0["step"] as? Int }
                guard let last = written.last, last >= 6 else { return false }
                return c1.committedSteps(e).contains(last)
            }
            c1.signal(SIGKILL)
            #expect(c1.waitForExit(timeout: 10) == 128 + SIGKILL)
            let saved = try Checkpoint.readInfo(h.checkpointDir).step
            let c2 = try h.coordinator(args, name: "coordinator-restarted", config: false)
            let start = try c2.waitFor("the start line", timeout: 30) { $0.contains { $0["event"] as? String == "start" } }
            let s = start.first { $0["event"] as? String == "start" }!
            #expect(s["resumed"] as? Bool == true && s["step"] as? Int == saved, "\(s)")
            #expect(c2.waitForExit(timeout: 120) == 0, "\(c2.log)")
            // The same worker processes finished the job.
            for w in ws {
                #expect(w.waitForExit(timeout: 20) == 0, "\(w.log)\n\(c2.lines.suffix(8).joined(separator: "\n"))")
            }
            let joins = c2.events("join").count
            #expect(joins == workers, "every worker rejoined the restarted coordinator (\(joins) joins)")
            #expect(Set(c2.committedSteps(c2.events)) == Set(saved ..< steps))
            #expect(!c2.log.contains("differs"), "a state hash differed after the restart:\n\(c2.log)")
            #expect(try Checkpoint.readInfo(h.checkpointDir).step == steps)

            func record(_ d: Daemon) -> [Int: (loss: Double, hash: String)] {
                var out: [Int: (loss: Double, hash: String)] = [:]
                for e in d.events("step") {
                    if let step = e["step"] as? Int, let loss = e["loss_total"] as? Double {
                        out[step] = (loss, e["state_hash"] as? String ?? "")
                    }
                }
                return out
            }
            /// The ring (worker names in rank order) of the generation that computed `step`: the last one started
            /// at or before it.
            func ring(_ d: Daemon, _ step: Int) -> String {
                let g = d.events("generation").last { ($0["step"] as? Int ?? .max) <= step }
                let message = g?["message"] as? String ?? ""
                return message.components(separatedBy: "[").last?.components(separatedBy: "]").first ?? ""
            }
            let first = record(c1), second = record(c2)
            let redone = first.keys.filter { $0 >= saved }.sorted()
            print("\(workers) worker(s): steps committed after the last checkpoint (\(saved)) and redone: "
                  + redone.map { "\($0) on [\(ring(c1, $0))] then [\(ring(c2, $0))]" }.joined(separator: ", "))
            #expect(!redone.isEmpty)
            var bitwise = 0
            for s in redone {
                guard let a = first[s], let b = second[s] else { Issue.record("step \(s) not redone"); continue }
                if ring(c1, s) == ring(c2, s) {
                    bitwise += 1
                    #expect(a.loss == b.loss && a.hash == b.hash && !a.hash.isEmpty, "step \(s): \(a) then \(b)")
                } else { // another rank order sums the gradients in another order
                    #expect(abs(a.loss - b.loss) <= 1e-4 * abs(a.loss), "step \(s): \(a) then \(b)")
                }
            }
            if workers == 1 { #expect(bitwise == redone.count) }
        }

        /// Issue test 6: kill the coordinator while a checkpoint is being written: the previous checkpoint is intact and
        /// loads. Large memories make each checkpoint take long enough to be caught half-written.
        /// The whole job stopped for longer than every timeout and continued (a paused VM or container, SIGSTOP to the
        /// process group): the coordinator and the workers see that the silence was their own, nobody is evicted, and
        /// training goes on.
        @Test(.timeLimit(.minutes(3))) func aJobPausedAsAWholeResumesWithoutEvictions() throws {
            let h = try JobHarness()
            defer { h.stop() }
            let c = try h.coordinator(["--steps", "100000", "--min-workers", "2"])
            let ws = try (0 ..< 2).map { try h.worker("w\($0)") }
            try c.waitFor("3 committed steps", timeout: 60) { c.committedSteps($0).count >= 3 }
            for d in [c] + ws { d.signal(SIGSTOP) }
            // The scenario, not a synchronisation: stopped for twice the 2 s heartbeat timeout.
            Thread.sleep(forTimeInterval: 4)
            for d in [c] + ws { d.signal(SIGCONT) }
            let n = c.committedSteps(c.events).count
            try c.waitFor("progress after the pause", timeout: 60) { c.committedSteps($0).count >= n + 3 }
            #expect(c.events("evict").isEmpty, "nobody is evicted for the pause:\n\(c.log)")
            #expect(c.log.contains("no tick for"), "the coordinator notices its own pause")
            for w in ws {
                #expect(!w.log.contains("no message from the coordinator"), "\(w.name) keeps the coordinator:\n\(w.log)")
            }
            #expect(try h.control("stop") == 202)
            #expect(c.waitForExit(timeout: 60) == 0, "\(c.log)")
        }

        @Test(.timeLimit(.minutes(3))) func killDuringCheckpointLeavesThePreviousOneIntact() throws {
            let big = JobHarness.tinyConfig.replacingOccurrences(of: "local_group_memory_size: 64",
                                                                  with: "local_group_memory_size: 262144")
            let h = try JobHarness(config: big)
            defer { h.stop() }
            let c = try h.coordinator(["--steps", "40", "--checkpoint-every", "1", "--keep-checkpoints", "2",
                                       "--hash-every", "0"])
            _ = try h.worker("w0")
            try c.waitFor("a first checkpoint", timeout: 120) { e in
                e.contains { ($0["message"] as? String)?.hasPrefix("checkpoint written") == true }
            }
            // Poll for a half-written checkpoint directory, then kill.
            let fm = FileManager.default
            var caught: String?
            let deadline = Date().addingTimeInterval(60)
            while caught == nil && Date() < deadline && c.waitForExit(timeout: 0) == nil {
                caught = (try? fm.contentsOfDirectory(atPath: h.checkpointDir))?.first { $0.hasPrefix(".tmp-step-") }
                if caught == nil { usleep(1000) }
            }
            c.signal(SIGKILL)
            _ = c.waitForExit(timeout: 10)
            #expect(caught != nil, "no checkpoint was caught being written within 60 s")
            let info = try Checkpoint.readInfo(h.checkpointDir)
            let cfg = info.config
            let state = try JobState.make(config: cfg, stepsPerEpoch: info.stepsPerEpoch, seed: info.seed)
            try Checkpoint.load(into: state, from: info.path)
            #expect(state.step == info.step && info.step >= 1)
            print("killed while writing \(caught ?? "-"); latest intact at step \(info.step)")
            // And a coordinator resumes from it.
            let c2 = try h.coordinator(["--steps", "\(info.step + 1)"], name: "coordinator-restarted", config: false)
            let e = try c2.waitFor("the start line", timeout: 60) { $0.contains { $0["event"] as? String == "start" } }
            #expect(e.first { $0["event"] as? String == "start" }?["step"] as? Int == info.step)
            c2.kill()
        }

        /// Issue test 7: every control endpoint, a wrong token, malformed requests.
        @Test(.timeLimit(.minutes(3))) func controlPortEndpointsTokensAndMalformedRequests() throws {
            let h = try JobHarness()
            defer { h.stop() }
            let c = try h.coordinator(["--steps", "400", "--checkpoint-every", "0"])
            let w = try h.worker("w0")
            try c.waitFor("2 committed steps", timeout: 60) { c.committedSteps($0).count >= 2 }
            func call(_ method: String, _ path: String, token: String? = nil) throws -> ControlClient.Reply {
                try ControlClient.request(host: "127.0.0.1", port: h.controlPort, method: method, path: path,
                                          headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
            }
            // GET /status and /metrics.
            let s = try h.status()
            #expect(s.state == "training" && s.globalBatch == 8 && s.workers.count == 1 && s.workers[0].rank == 0)
            #expect(s.step >= 2 && s.totalSteps == 400 && s.losses != nil && s.lr > 0 && s.job.hasPrefix("mugs-"))
            let m = try call("GET", "/metrics")
            #expect(m.status == 200 && m.text.contains("mugs_step ") && m.text.contains("mugs_loss{granularity=\"total\"}"))
            // The worker's GEMM engine, as its join and its log name it, and its GEMM rate once a heartbeat after a
            // step has carried it (issue 12: never silently slow).
            let engine = try #require(w.events("gemm").first?["gemm_engine"] as? String)
            let joined = c.events("join").first?["gemm"] as? String ?? ""
            #expect(joined.hasPrefix("\(engine) (") && s.workers[0].gemm == joined, "\(joined) vs \(s.workers[0].gemm)")
            try c.waitFor("a GEMM rate in /status", timeout: 20) { _ in
                ((try? h.status())?.workers.first?.gemmGflopPerSecond ?? 0) > 0
            }
            let rate = try call("GET", "/metrics").text.split(separator: "\n")
                .first { $0.hasPrefix("mugs_worker_gemm_gflop_per_second{") } ?? ""
            #expect(rate.contains("engine=\"\(engine) (") && (Double(rate.split(separator: " ").last ?? "") ?? 0) > 0,
                    "\(rate)")
            // Mutating calls need the token.
            #expect(try call("POST", "/pause").status == 401)
            #expect(try call("POST", "/pause", token: "wrong").status == 403)
            #expect(try call("GET", "/pause", token: h.token).status == 405)
            #expect(try call("GET", "/nothing").status == 404)
            #expect(try call("POST", "/status").status == 405)
            // Malformed bytes get a 4xx and the server keeps serving.
            for junk in ["GARBAGE\r\n\r\n", "GET /status HTTP/9.9\r\n\r\n", "GET\r\n\r\n",
                         "POST /pause HTTP/1.1\r\nContent-Length: -5\r\n\r\n"] {
                let reply = String(decoding: try ControlClient.exchange(host: "127.0.0.1", port: h.controlPort,
                                                                         bytes: Array(junk.utf8)), as: UTF8.self)
                let ok = reply.hasPrefix("HTTP/1.1 4") || (junk.contains("9.9") && reply.hasPrefix("HTTP/1.1 505"))
                #expect(ok, "\(junk.debugDescription) → \(reply.prefix(60))")
            }
            // pause → paused, resume → training, checkpoint → written, stop → finished with a final checkpoint.
            #expect(try call("POST", "/pause", token: h.token).status == 202)
            try c.waitFor("paused", timeout: 20) { $0.contains { $0["event"] as? String == "pause" } }
            let pausedAt = try h.status()
            #expect(pausedAt.state == "paused")
            #expect(try call("POST", "/checkpoint", token: h.token).status == 202)
            try c.waitFor("the checkpoint", timeout: 20) { e in
                e.contains { ($0["message"] as? String)?.hasPrefix("checkpoint written") == true }
            }
            #expect(try h.status().step == pausedAt.step, "no step while paused")
            #expect(try call("POST", "/resume", token: h.token).status == 202)
            try c.waitFor("a step after resuming", timeout: 30) { $0.compactMap { $0["step"] as? Int }.max() ?? 0 > pausedAt.step }
            #expect(try call("POST", "/stop", token: h.token).status == 202)
            #expect(c.waitForExit(timeout: 30) == 0, "\(c.log)")
            #expect(w.waitForExit(timeout: 20) == 0, "the worker exits cleanly when the job stops:\n\(w.log)")
            #expect(try Checkpoint.readInfo(h.checkpointDir).step > pausedAt.step)
        }

        /// Issue security: a join with a wrong token is refused (the worker exits 1); messages of another wire version
        /// or another job are dropped with a logged reason; the job is not disturbed.
        @Test(.timeLimit(.minutes(2))) func foreignWorkersAndMessagesAreRefused() throws {
            let h = try JobHarness()
            defer { h.stop() }
            let c = try h.coordinator(["--steps", "100000"])
            let good = try h.worker("good")
            try c.waitFor("2 committed steps", timeout: 60) { c.committedSteps($0).count >= 2 }
            try "not-the-token".write(toFile: h.dir + "/wrong", atomically: true, encoding: .utf8)
            let port = JobHarness.freePorts(1)[0]
            let intruder = try Daemon("intruder", executable: JobHarness.binDir + "/mugs-worker",
                                      arguments: ["--coordinator", "tcp://127.0.0.1:\(h.listenPort)", "--data-port",
                                                  "\(port)", "--token-file", h.dir + "/wrong", "--name", "intruder"],
                                      environment: h.environment, logPath: h.dir + "/intruder.log")
            h.daemons.append(intruder)
            #expect(intruder.waitForExit(timeout: 30) == 1, "\(intruder.log)")
            #expect(intruder.log.contains("wrong job token"))
            // Raw messages: another wire version, then another job's heartbeat.
            let ctx = try ZMQContext()
            let s = try ZMQSocket(ctx, .dealer)
            try s.set(.routingID(Array("raw".utf8)))
            try s.set(.linger(milliseconds: 0))
            try s.connect("tcp://127.0.0.1:\(h.listenPort)")
            let foreign = Envelope(jobID: 1, generation: 0, message: .heartbeat(Heartbeat(
                workerID: "raw", cachedStep: nil, imagesPerSecond: 0)))
            try JobChannel.send(foreign, on: s, dontWait: false)
            var frames = foreign.encodedFrames()
            frames[0][4] = 99 // version
            for (i, f) in frames.enumerated() { _ = try s.send(f, more: i + 1 < frames.count, dontWait: false) }
            try c.waitFor("both refusals logged", timeout: 20) { e in
                let m = e.filter { $0["event"] as? String == "refused" }.compactMap { $0["message"] as? String }
                return m.contains { $0.contains("unsupported version 99") } && m.contains { $0.contains("belongs to job 1") }
            }
            s.close()
            ctx.terminate()
            let n = c.committedSteps(c.events).count
            try c.waitFor("training goes on", timeout: 30) { c.committedSteps($0).count >= n + 2 }
            #expect(try h.control("stop") == 202)
            #expect(c.waitForExit(timeout: 30) == 0 && good.waitForExit(timeout: 20) == 0)
        }
    }
}
