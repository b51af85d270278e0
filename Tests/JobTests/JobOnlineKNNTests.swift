import ControlPort
import Foundation
import CoordinatorDaemon
import JobCommon
import WorkerDaemon
import Testing

extension JobTests {
    /// `--online-knn-every`: a worker evaluates the teacher between steps; the result in the log and `/status` is
    /// exactly what `mugs eval knn` computes from the checkpoint written at that step.
    @Suite struct JobOnlineKNNTests {
        @Test(.timeLimit(.minutes(3))) func resultsMatchAnEvaluationOfTheCheckpointAtThatStep() throws {
            // A teacher that moves quickly (no warm-up, a fast EMA), so the accuracies differ from step to step.
            let h = try JobHarness(config: JobHarness.tinyConfig.replacingOccurrences(of: "warmup_epochs: 1", with:
                "warmup_epochs: 0\nlr: 0.5\nmomentum_teacher: 0.5"))
            defer { h.stop() }
            // The held-out split (the default queries for fashion-mnist:train): shapes no training image has exactly.
            // The online subsets are both whole sets (96 training images, 48 queries).
            try JobHarness.writeDataset(h.dir + "/fmnist", count: 48, split: "t10k", firstIndex: 100)
            let every = 3, steps = 7, trainCount = 96, valCount = 48, k = 5
            let c = try h.coordinator(["--steps", "\(steps)", "--min-workers", "2", "--hash-every", "1",
                                       "--checkpoint-every", "\(every)", "--keep-checkpoints", "5",
                                       "--online-knn-every", "\(every)", "--online-knn-train-count", "\(trainCount)",
                                       "--online-knn-val-count", "\(valCount)", "--online-knn-k", "\(k)"])
            let ws = try (0 ..< 2).map { try h.worker("w\($0)", ["--threads", "1"]) }
            // While the job runs: /status and /metrics show the first result.
            try c.waitFor("the first online kNN result", timeout: 120) { e in
                e.contains { $0["event"] as? String == "online_knn" && $0["top1"] != nil }
            }
            let status = try h.status()
            let metrics = try h.metrics()
            #expect(c.waitForExit(timeout: 120) == 0, "\(c.log)")
            for w in ws { #expect(w.waitForExit(timeout: 20) == 0, "\(w.log)") }

            let results = c.events("online_knn").filter { $0["top1"] != nil }
            // Every multiple of 3 after the start, and the last step (7).
            #expect(results.compactMap { $0["step"] as? Int } == [3, 6, 7], "\(c.log)")
            #expect(c.events("abort").isEmpty && c.events("generation").count == 1, "one ring throughout: \(c.log)")
            let got = Dictionary(uniqueKeysWithValues: results.compactMap { r -> (Int, [String: Any])? in
                (r["step"] as? Int).map { ($0, r) }
            })
            let s = try #require(status.onlineKnn, "no online_knn in /status")
            #expect(got[s.step]?["top1"] as? Double == s.top1 && got[s.step]?["worker"] as? String == s.worker
                        && s.k == k,
                    "/status \(s) vs log \(got[s.step] ?? [:])")
            #expect(metrics.contains("mugs_online_knn_top1 ") && metrics.contains("mugs_online_knn_step \(s.step)"),
                    "\(metrics)")

            // The same evaluation by `mugs eval knn` on each step's checkpoint, in its own process with the worker's
            // thread count. Not in this process: OpenBLAS's thread count is process-wide, tests running beside this one
            // change it, OpenBLAS rounds differently with 2 threads, and a collapsed teacher's near-ties then vote
            // differently. The subsets are the whole sets (the counts are their sizes), which the CLI evaluates.
            var checkpointTop1: [Int: Double] = [:]
            for step in [3, 6, 7] {
                let checkpoint = h.checkpointDir + String(format: "/step-%09d", step)
                let want = try h.mugsJSON(["eval", "knn", "--checkpoint", checkpoint, "--train", "fashion-mnist:train",
                                           "--val", "fashion-mnist:test", "--k", "\(k)", "--threads", "1",
                                           "--no-cache", "--json"])
                #expect((want["features"] as? String)?.contains("(step \(step))") == true, "\(want)")
                #expect(want["train_images"] as? Int == trainCount && want["val_images"] as? Int == valCount)
                let result = try #require((want["results"] as? [[String: Any]])?.first)
                let wantTop1 = try #require(result["top1"] as? Double), wantTop5 = try #require(result["top5"] as? Double)
                let r = try #require(got[step])
                let top1 = try #require(r["top1"] as? Double), top5 = try #require(r["top5"] as? Double)
                print("online kNN @ step \(step): job \(top1) / \(top5), checkpoint \(wantTop1) / \(wantTop5), "
                      + "\(r["seconds"] ?? "?") s on \(r["worker"] ?? "?")")
                #expect(abs(top1 - wantTop1) <= 1e-9 && abs(top5 - wantTop5) <= 1e-9,
                        "step \(step): job \(top1)/\(top5), checkpoint \(wantTop1)/\(wantTop5)")
                #expect(r["train_count"] as? Int == trainCount && r["val_count"] as? Int == valCount)
                checkpointTop1[step] = wantTop1
            }
            // The evaluation sees the step's teacher: not the same accuracy throughout.
            #expect(Set(checkpointTop1.values).count > 1, "\(checkpointTop1)")
        }

        /// The evaluating worker is SIGKILLed mid-evaluation: that result is missing (logged), the job goes on with the
        /// other worker, and the next multiple of N is evaluated by it.
        @Test(.timeLimit(.minutes(3))) func aWorkerKilledWhileEvaluatingOnlyLosesThatResult() throws {
            let h = try JobHarness()
            defer { h.stop() }
            // 4000 queries: decoding and evaluating them takes seconds in a debug build: time to kill the worker.
            try JobHarness.writeDataset(h.dir + "/fmnist", count: 4000, split: "t10k", firstIndex: 100)
            let c = try h.coordinator(["--steps", "8", "--online-knn-every", "3", "--online-knn-train-count", "64",
                                       "--online-knn-val-count", "4000", "--online-knn-k", "5"])
            let ws = try (0 ..< 2).map { try h.worker("w\($0)") }
            let deadline = Date().addingTimeInterval(120)
            var evaluating: Daemon?
            while evaluating == nil {
                evaluating = ws.first { w in w.events("online_knn").contains { $0["started"] as? Bool == true } }
                if Date() > deadline { throw JobError("test", "no evaluation started; log:\n\(c.log)") }
                if evaluating == nil { usleep(20_000) }
            }
            guard let victim = evaluating else { return }
            victim.kill()
            #expect(victim.events("online_knn").allSatisfy { $0["top1"] == nil }, "killed before it answered")
            let survivor = try #require(ws.first { $0 !== victim })
            #expect(c.waitForExit(timeout: 120) == 0, "\(c.log)")
            #expect(survivor.waitForExit(timeout: 20) == 0, "\(survivor.log)")
            let e = c.events("online_knn")
            #expect(e.contains { $0["step"] as? Int == 3 && $0["missing"] as? Bool == true }, "\(c.log)")
            #expect(e.filter { $0["top1"] != nil }.compactMap { $0["step"] as? Int } == [6, 8], "\(c.log)")
            #expect(e.filter { $0["top1"] != nil }.allSatisfy { $0["worker"] as? String == survivor.name })
            #expect(Set(c.committedSteps(c.events)) == Set(0 ..< 8))
        }

        /// A queries spec that cannot be opened stops the coordinator at start with a message naming the option.
        @Test(.timeLimit(.minutes(1))) func badValidationSpecIsAClearErrorAtStart() throws {
            let h = try JobHarness()
            defer { h.stop() }
            let c = try h.coordinator(["--online-knn-every", "5", "--online-knn-val", h.dir + "/no-such-val"])
            #expect(c.waitForExit(timeout: 30) == 1)
            #expect(c.log.contains("--online-knn-val \(h.dir)/no-such-val: cannot be opened"), "\(c.log)")
            // Without --online-knn-val, a bank other than fashion-mnist:train has no default queries.
            let d = try h.coordinator(["--online-knn-every", "5", "--online-knn-train", h.dir + "/folder"], name: "c2")
            #expect(d.waitForExit(timeout: 30) != 0)
            #expect(d.log.contains("needs --online-knn-val"), "\(d.log)")
        }
    }
}
