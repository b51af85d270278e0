import ControlPort
import CoordinatorCore
import Foundation
import CoordinatorDaemon
import JobCommon
import WorkerDaemon
import MugsModel
import Testing

extension JobHarness {
    /// GET `path` (a JSON object), decoded.
    func getJSON(_ path: String) throws -> [String: Any] {
        let r = try ControlClient.request(host: "127.0.0.1", port: controlPort, method: "GET", path: path)
        guard r.status == 200, let o = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any] else {
            throw JobErrorForTests("GET \(path): \(r.status) \(String(decoding: r.body, as: UTF8.self))")
        }
        return o
    }

    /// Polls `GET path` every 100 ms until `predicate` holds, at most `timeout` seconds.
    func poll(_ path: String, _ what: String, timeout: Double,
              _ predicate: ([String: Any]) -> Bool) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let o = try? getJSON(path), predicate(o) { return o }
            if Date() > deadline { throw JobErrorForTests("no \(what) at \(path) within \(timeout) s") }
            usleep(100_000)
        }
    }
}

/// `/history` as the tests read it: the step rows by column name.
struct ServedHistory {
    let object: [String: Any]
    let columns: [String]
    let rows: [[Any]]

    init(_ o: [String: Any]) throws {
        guard let steps = o["steps"] as? [String: Any], let columns = steps["columns"] as? [String],
              let rows = steps["rows"] as? [[Any]] else { throw JobErrorForTests("not a /history object: \(o)") }
        object = o
        self.columns = columns
        self.rows = rows
    }

    func column(_ name: String) -> [Double?] {
        guard let i = columns.firstIndex(of: name) else { return [] }
        return rows.map { $0[i] as? Double }
    }

    var steps: [Int] { column("step").map { Int($0 ?? -1) } }
    var marks: [[String: Any]] { object["marks"] as? [[String: Any]] ?? [] }
    var checkpointSteps: [Int] { (object["checkpoints"] as? [[String: Any]] ?? []).compactMap { $0["step"] as? Int } }

    /// Every committed step exactly once, 1…last, one row per step (a short run: span 1).
    func coversEveryStepOnce() -> Bool {
        steps == Array(1 ... max(1, steps.count)) && column("first_step").map { Int($0 ?? -1) } == steps
            && column("count").allSatisfy { $0 == 1 }
    }
}

extension JobTests {
    /// The dashboard's data on a real job: `/history` against the coordinator's log while it trains, across a
    /// SIGKILL and restart of the coordinator, from a checkpoint written before mugs kept a history; and the page
    /// itself in headless Chromium.
    @Suite struct JobDashboardTests {
        /// The log's step events by committed step (the history's `step` is the step index + 1).
        static func loggedSteps(_ d: Daemon) -> [Int: [String: Any]] {
            var out: [Int: [String: Any]] = [:]
            for e in d.events("step") { if let s = e["step"] as? Int { out[s + 1] = e } }
            return out
        }

        static func checkpointWritten(_ e: [[String: Any]], atLeast step: Int) -> Bool {
            e.contains { ($0["message"] as? String)?.hasPrefix("checkpoint written") == true
                && ($0["step"] as? Int ?? 0) >= step }
        }

        @Test(.timeLimit(.minutes(4))) func historyMatchesTheLogAndARestartedCoordinatorGoesOnWithIt() throws {
            let h = try JobHarness()
            defer { h.stop() }
            let steps = 36
            let args = ["--steps", "\(steps)", "--checkpoint-every", "4", "--hash-every", "1"]
            let c1 = try h.coordinator(args)
            let w0 = try h.worker("w0", ["--threads", "1"])
            try c1.waitFor("3 committed steps", timeout: 90) { c1.committedSteps($0).count >= 3 }
            let w1 = try h.worker("w1", ["--threads", "1"])
            try c1.waitFor("the ring of two and a checkpoint at step ≥ 8", timeout: 90) { e in
                e.filter { $0["event"] as? String == "generation" }.count >= 2 && Self.checkpointWritten(e, atLeast: 8)
            }
            // The generation event comes before the ring of two's first commit: wait for a step of it in the history too
            // (on a fast machine the checkpoint at step 8 can land first).
            let live = try ServedHistory(h.poll("/history", "the checkpoint at step 8 and a step of the ring of two",
                                                timeout: 30) {
                guard let s = try? ServedHistory($0) else { return false }
                return s.checkpointSteps.contains(8) && s.column("ring_size").contains(2)
            })
            // Every committed step once, with the values the log printed for it.
            #expect(live.coversEveryStepOnce() && live.steps.count >= 8, "\(live.steps)")
            let logged = Self.loggedSteps(c1)
            for (i, step) in live.steps.enumerated() {
                let e = try #require(logged[step], "step \(step) is not in the log")
                #expect(live.column("loss_total")[i] == e["loss_total"] as? Double, "loss at step \(step)")
                #expect(live.column("lr")[i] == e["lr"] as? Double && live.column("teacher_momentum")[i]
                            == e["momentum"] as? Double, "schedules at step \(step)")
                #expect(live.column("ring_size")[i] == Double(e["world"] as? Int ?? -1), "ring at step \(step)")
            }
            #expect(Set(live.column("ring_size").compactMap { $0 }) == [1, 2])
            #expect(live.column("images_per_second").dropFirst().allSatisfy { ($0 ?? 0) > 0 })
            #expect(live.checkpointSteps.starts(with: [4, 8]))
            let generations = live.marks.filter { $0["kind"] as? String == "generation" }
            #expect(generations.count == 2 && generations.map { $0["ring_size"] as? Int } == [1, 2])
            #expect((generations[0]["joined"] as? [String])?.first?.hasSuffix("(w0)") == true
                        && (generations[1]["joined"] as? [String])?.first?.hasSuffix("(w1)") == true, "\(generations)")
            #expect(live.marks.contains { $0["kind"] as? String == "abort" }, "the ring of one was aborted for w1")

            // SIGKILL: the steps committed after the last checkpoint are redone by the restarted coordinator and must
            // be in its history once, after the restored ones.
            c1.signal(SIGKILL)
            #expect(c1.waitForExit(timeout: 10) == 128 + SIGKILL)
            let saved = try Checkpoint.readInfo(h.checkpointDir)
            #expect(saved.extra["history"] != nil, "the checkpoint stores the history")
            let c2 = try h.coordinator(args, name: "coordinator-restarted", config: false)
            let resumed = try ServedHistory(h.poll("/history", "3 steps after the restart", timeout: 90) {
                ((try? ServedHistory($0))?.steps.count ?? 0) >= saved.step + 3
            })
            #expect(resumed.coversEveryStepOnce(), "\(resumed.steps)")
            for (i, step) in resumed.steps.enumerated() where step <= min(saved.step, live.steps.count) {
                #expect(resumed.column("loss_total")[i] == live.column("loss_total")[i], "restored step \(step)")
            }
            let logged2 = Self.loggedSteps(c2)
            for (i, step) in resumed.steps.enumerated() where step > saved.step {
                #expect(resumed.column("loss_total")[i] == logged2[step]?["loss_total"] as? Double,
                        "redone step \(step)")
            }
            let before = live.marks.prefix { ($0["step"] as? Int ?? 0) < saved.step }.map { $0["text"] as? String }
            #expect(resumed.marks.prefix(before.count).map { $0["text"] as? String } == before)
            #expect(resumed.marks.count > before.count, "the restarted coordinator's ring is marked")
            #expect(c2.events("history").contains { ($0["message"] as? String)?.hasPrefix("history restored") == true })
            #expect(c2.waitForExit(timeout: 150) == 0, "\(c2.log)")
            for w in [w0, w1] { #expect(w.waitForExit(timeout: 20) == 0, "\(w.log)") }
            // The last checkpoint holds the whole run: every step once.
            let last = try RunHistory.decodeStored(try #require(Checkpoint.readInfo(h.checkpointDir).extra["history"]))
            #expect(last.steps.records == steps && last.steps.points.map(\.step) == Array(1 ... steps))
        }

        /// A checkpoint without a history (as every mugs before the dashboard wrote) resumes; the history starts at
        /// its step.
        @Test(.timeLimit(.minutes(3))) func aCheckpointWithoutAHistoryStillResumes() throws {
            let h = try JobHarness()
            defer { h.stop() }
            let c1 = try h.coordinator(["--steps", "4", "--checkpoint-every", "2"])
            _ = try h.worker("w0", ["--threads", "1"])
            #expect(c1.waitForExit(timeout: 120) == 0, "\(c1.log)")
            let file = try Checkpoint.resolve(h.checkpointDir) + "/state.json"
            let url = URL(fileURLWithPath: file)
            var state = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            #expect(state.removeValue(forKey: "history") != nil)
            try JSONSerialization.data(withJSONObject: state, options: [.sortedKeys]).write(to: url)
            let c2 = try h.coordinator(["--steps", "6", "--checkpoint-every", "2"], name: "coordinator-old",
                                       config: false)
            _ = try h.worker("w1", ["--threads", "1"])
            #expect(c2.waitForExit(timeout: 120) == 0, "\(c2.log)")
            #expect(c2.events("history").contains { ($0["message"] as? String)?.contains("has no history") == true },
                    "\(c2.log)")
            let stored = try #require(Checkpoint.readInfo(h.checkpointDir).extra["history"])
            let history = try RunHistory.decodeStored(stored)
            #expect(history.steps.points.map(\.step) == [5, 6], "the curves start after the old checkpoint")
            // The resumed checkpoint is listed; a checkpoint's own entry is added when its write completes, after its
            // history was taken (a coordinator resuming from it adds it then).
            #expect(history.checkpoints.map(\.step) == [4])
        }

        /// The page of a real job in headless Chromium: the charts drawn with the history's points, the figures of
        /// `/status`, the workers, the attention maps of the latest checkpoint; and a screenshot
        /// (`$MUGS_DASHBOARD_SCREENSHOT`, else the temporary directory).
        @Test(.timeLimit(.minutes(5)), .enabled(if: HeadlessChromium.executable != nil, Comment(rawValue:
            HeadlessChromium.missing))) func theDashboardRendersInHeadlessChromium() throws {
            let h = try JobHarness()
            defer { h.stop() }
            // Held-out images for online kNN and the attention maps (fashion-mnist:test).
            try JobHarness.writeDataset(h.dir + "/fmnist", count: 48, split: "t10k", firstIndex: 100)
            let c = try h.coordinator(["--steps", "200", "--min-workers", "2", "--online-knn-every", "3",
                                       "--online-knn-train-count", "96", "--online-knn-val-count", "48",
                                       "--online-knn-k", "5"])
            let ws = try (0 ..< 2).map { try h.worker("w\($0)", ["--threads", "1"]) }
            try c.waitFor("two online kNN results", timeout: 120) { e in
                e.filter { $0["event"] as? String == "online_knn" && $0["top1"] != nil }.count >= 2
            }
            // Paused, with a checkpoint at the paused step and the last online kNN result in: nothing changes while
            // the browser looks.
            #expect(try h.control("pause") == 202)
            let paused = try h.poll("/status", "the paused state", timeout: 60) { $0["state"] as? String == "paused" }
            let step = try #require(paused["step"] as? Int)
            #expect(try h.control("checkpoint") == 202)
            _ = try h.poll("/status", "the checkpoint and kNN result at the paused step", timeout: 60) {
                ($0["last_checkpoint"] as? [String: Any])?["step"] as? Int == step
                    && ($0["online_knn"] as? [String: Any])?["step"] as? Int == step - step % 3
            }
            // The maps render on the coordinator's attention thread once asked for (the page asks the same way).
            let attention = try h.poll("/attention", "rendered attention maps", timeout: 120) {
                $0["state"] as? String == "ready"
                    && $0["step"] as? Int == $0["latest_checkpoint_step"] as? Int
            }
            let mapStep = try #require(attention["step"] as? Int)
            #expect(mapStep == step)
            let images = try #require(attention["images"] as? [[String: Any]])
            #expect(images.count == 4 && (images[0]["maps"] as? [String]) == ["image", "mean", "head0", "head1"])
            let png = try ControlClient.request(host: "127.0.0.1", port: h.controlPort, method: "GET",
                                                path: "/attention/\(mapStep)/0/mean.png")
            #expect(png.status == 200 && png.body.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.body.count > 100)
            let history = try ServedHistory(h.getJSON("/history"))
            #expect(history.steps.last == step)
            let knnRows = try #require((history.object["online_knn"] as? [String: Any])?["rows"] as? [[Any]])

            let output = try HeadlessChromium.run(h.controlURL + "/", mode: "--dump-dom", in: h.dir)
            let dom = try #require(HeadlessChromium.html(output), "no DOM in:\n\(output)")
            func attribute(_ id: String, _ name: String) -> String? {
                guard let r = try? Regex("id=\"\(id)\"[^>]*\(name)=\"([^\"]*)\""), let m = dom.firstMatch(of: r)
                else { return nil }
                return m.output[1].substring.map(String.init)
            }
            func content(_ id: String) -> String? {
                guard let r = try? Regex("id=\"\(id)\"[^>]*>([^<]*)<"), let m = dom.firstMatch(of: r) else {
                    return nil
                }
                return m.output[1].substring.map(String.init)
            }
            // Charts: each drawn by dygraphs (its canvases) with the history's points.
            for id in ["chart-loss", "chart-lr", "chart-momentum", "chart-throughput"] {
                #expect(attribute(id, "data-points") == String(history.rows.count), "\(id) in\n\(dom)")
            }
            #expect(attribute("chart-knn", "data-points") == String(knnRows.count))
            #expect(dom.components(separatedBy: "<canvas").count - 1 >= 10, "dygraphs draws two canvases per chart")
            #expect(dom.contains("class=\"dygraph-legend"), "dygraphs' legend")
            #expect(!dom.contains("Charts unavailable"), "the library loaded")
            // Figures: the paused job's.
            #expect(attribute("fig-step", "data-step") == String(step))
            #expect(content("fig-state") == "paused" && content("fig-step") == "\(step) / 200")
            #expect(content("fig-checkpoint")?.hasPrefix("step \(mapStep) at ") == true,
                    "\(content("fig-checkpoint") ?? "")")
            #expect(content("fig-knn")?.hasPrefix("top-1 ") == true)
            #expect(dom.contains("(w0)") && dom.contains("(w1)"), "both workers in the table")
            #expect(dom.contains("generation 1: ring of 2"), "the generation change is listed")
            #expect(dom.contains("src=\"/attention/\(mapStep)/3/head1.png\""), "the attention maps are shown")

            let shot = ProcessInfo.processInfo.environment["MUGS_DASHBOARD_SCREENSHOT"]
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("mugs-dashboard-test.png").path
            try? FileManager.default.removeItem(atPath: shot)
            _ = try HeadlessChromium.run(h.controlURL + "/", mode: "--screenshot=\(shot)", in: h.dir)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: shot))
            #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) && bytes.count > 20_000, "\(bytes.count) bytes")
            print("dashboard screenshot: \(shot) (\(bytes.count) bytes)")

            #expect(try h.control("stop") == 202)
            #expect(c.waitForExit(timeout: 60) == 0, "\(c.log)")
            for w in ws { #expect(w.waitForExit(timeout: 20) == 0, "\(w.log)") }
        }
    }
}
