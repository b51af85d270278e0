import Foundation
import Testing
@testable import ControlPort

/// A backend that records actions; `resume` is refused to exercise 409.
final class RecordingBackend: ControlBackend, @unchecked Sendable {
    let lock = NSLock()
    var actions: [ControlAction] = []
    let report: StatusReport

    init(report: StatusReport = .sample) { self.report = report }

    func status() -> StatusReport { report }
    func metrics() -> String {
        var m = PrometheusText()
        m.gauge("mugs_step", "Last committed step.", Double(report.step))
        m.gauges("mugs_worker_images_per_second", "Worker throughput, images per second.",
                 report.workers.map { ([("rank", String($0.rank)), ("host", $0.host)], $0.imagesPerSecond) })
        return m.text
    }
    func perform(_ action: ControlAction) -> (accepted: Bool, message: String) {
        lock.lock(); defer { lock.unlock() }
        actions.append(action)
        return action == .resume ? (false, "the job is not paused") : (true, "\(action.rawValue) requested")
    }
    func historyJSON() -> String { "{\"schema_version\":1}" }
    func attentionIndex() -> String { "{\"state\":\"ready\",\"step\":40}" }
    /// Step 40, image 1, map mean is rendered.
    func attentionImage(step: Int, image: Int, map: String) -> [UInt8]? {
        step == 40 && image == 1 && map == "mean" ? [0x89, 0x50, 0x4E, 0x47] : nil
    }
}

extension StatusReport {
    static let sample = StatusReport(
        job: "job-1", state: "training", generation: 3, step: 120, totalSteps: 9360, epoch: 0, epochProgress: 0.128,
        globalBatch: 64, minWorkers: 1,
        workers: [.init(rank: 0, host: "127.0.0.1:5600", heartbeatAgeSeconds: 0.2, imagesPerSecond: 8.1,
                        gemm: "onednn (oneDNN 2.6.3, avx512_core_bf16)", gemmGflopPerSecond: 221.4),
                  .init(rank: 1, host: "127.0.0.1:5601", heartbeatAgeSeconds: 0.4, imagesPerSecond: 7.9,
                        gemm: "openblas (OpenBLAS 0.3.21, Prescott)", gemmGflopPerSecond: 48.3)],
        losses: .init(instance: 4.12, localGroup: 4.3, group: 8.1, total: 5.5),
        lr: 2.5e-4, weightDecay: 0.041, teacherMomentum: 0.99601, teacherTemperature: 0.04,
        imagesPerSecond: 16.0, etaSeconds: 3725, lastCheckpoint: .init(path: "ckpt/step-000100", step: 100, unixTime: 1.8e9),
        skippedFiles: 2)
}

@Suite struct ControlRouterTests {
    let backend = RecordingBackend()
    var router: ControlRouter { ControlRouter(backend: backend, token: "s3cret") }

    @Test func statusIsTheBackendReportAsJSON() throws {
        let r = router.handle(HTTPRequest(method: "GET", path: "/status"))
        #expect(r.status == 200 && r.contentType == "application/json")
        let decoded = try StatusReport.decode(Data(r.body))
        #expect(decoded == StatusReport.sample)
        #expect(String(decoding: r.body, as: UTF8.self).contains("\"images_per_second\":16"))
    }

    @Test func metricsArePrometheusText() {
        let r = router.handle(HTTPRequest(method: "GET", path: "/metrics"))
        #expect(r.status == 200 && r.contentType.hasPrefix("text/plain; version=0.0.4"))
        #expect(r.body == Array("""
            # HELP mugs_step Last committed step.
            # TYPE mugs_step gauge
            mugs_step 120
            # HELP mugs_worker_images_per_second Worker throughput, images per second.
            # TYPE mugs_worker_images_per_second gauge
            mugs_worker_images_per_second{rank="0",host="127.0.0.1:5600"} 8.1
            mugs_worker_images_per_second{rank="1",host="127.0.0.1:5601"} 7.9

            """.utf8))
    }

    @Test func headHasNoBodyAndWrongMethodsAreRefusedWithAllow() {
        #expect(router.handle(HTTPRequest(method: "HEAD", path: "/status")).body.isEmpty)
        let post = router.handle(HTTPRequest(method: "POST", path: "/status"))
        #expect(post.status == 405 && post.extraHeaders.first?.value == "GET, HEAD")
        let get = router.handle(HTTPRequest(method: "GET", path: "/stop"))
        #expect(get.status == 405 && get.extraHeaders.first?.value == "POST")
        #expect(router.handle(HTTPRequest(method: "GET", path: "/nope")).status == 404)
        #expect(router.handle(HTTPRequest(method: "GET", path: "/")).status == 200)
    }

    @Test func actionsNeedTheRightToken() {
        let none = router.handle(HTTPRequest(method: "POST", path: "/checkpoint"))
        #expect(none.status == 401 && none.extraHeaders.contains { $0.name == "WWW-Authenticate" })
        for bad in ["Bearer s3cre", "Bearer s3cret2", "Basic s3cret", "s3cret", "Bearer "] {
            let r = router.handle(HTTPRequest(method: "POST", path: "/checkpoint", headers: [("Authorization", bad)]))
            #expect(r.status == 403, "\(bad)")
        }
        #expect(backend.actions.isEmpty)
        let ok = router.handle(HTTPRequest(method: "POST", path: "/checkpoint", headers: [("authorization", "Bearer s3cret")]))
        #expect(ok.status == 202)
        #expect(String(decoding: ok.body, as: UTF8.self)
                    == "{\"action\":\"checkpoint\",\"accepted\":true,\"message\":\"checkpoint requested\"}\n")
        let refused = router.handle(HTTPRequest(method: "POST", path: "/resume", headers: [("Authorization", "Bearer s3cret")]))
        #expect(refused.status == 409)
        #expect(backend.actions == [.checkpoint, .resume])
    }

    @Test func constantTimeEqualityIsEquality() {
        #expect(ControlRouter.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!ControlRouter.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!ControlRouter.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!ControlRouter.constantTimeEqual([], Array("a".utf8)))
    }

    @Test func tableShowsEveryHeadlineNumber() {
        let t = StatusReport.sample.table()
        for needle in ["job job-1", "state training", "generation 3", "step 120/9360", "(12.8%)", "global batch 64",
                       "total 5.5000", "instance 4.1200", "lr 2.500e-04", "16.0 img/s", "ETA 1h02m",
                       "step 100 at ckpt/step-000100", "skipped unreadable files 2", "workers 2 (min 1)",
                       "127.0.0.1:5601", "221  onednn (oneDNN 2.6.3, avx512_core_bf16)",
                       "48  openblas (OpenBLAS 0.3.21, Prescott)"] {
            #expect(t.contains(needle), "missing \(needle) in\n\(t)")
        }
        #expect(StatusReport.duration(42) == "42s" && StatusReport.duration(725) == "12m05s")
        #expect(!t.contains("online kNN"), "no line when online kNN is off")
    }

    /// A client polling a young job (no loss, ETA, checkpoint or kNN result yet) finds every key, unknown ones as
    /// `null` (deploy/quickstart.sh once died on a missing `eta_seconds`).
    @Test func everyKeyIsPresentAndUnknownsAreNull() throws {
        var young = StatusReport.sample
        young.losses = nil; young.etaSeconds = nil; young.lastCheckpoint = nil; young.onlineKnn = nil
        let json = young.json()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let expected: Set<String> = [
            "job", "state", "generation", "step", "total_steps", "epoch", "epoch_progress", "global_batch",
            "min_workers", "workers", "losses", "lr", "weight_decay", "teacher_momentum", "teacher_temperature",
            "images_per_second", "eta_seconds", "last_checkpoint", "skipped_files", "skipped_files_recent",
            "worker_errors", "online_knn"]
        #expect(Set(object.keys) == expected, "\(json)")
        for key in ["losses", "eta_seconds", "last_checkpoint", "online_knn"] {
            #expect(object[key] is NSNull, "\(key) should be null in \(json)")
        }
        let worker = try #require((object["workers"] as? [[String: Any]])?.first)
        #expect(worker["gemm"] as? String == "onednn (oneDNN 2.6.3, avx512_core_bf16)")
        #expect(worker["gemm_gflop_per_second"] as? Double == 221.4)
        #expect(worker["last_error"] is NSNull, "a worker never dropped has last_error null: \(json)")
        #expect(object["worker_errors"] as? [Any] != nil && object["skipped_files_recent"] as? [Any] != nil)
        #expect(try StatusReport.decode(Data(json.utf8)) == young)
        #expect(try StatusReport.decode(Data(StatusReport.sample.json().utf8)) == StatusReport.sample)
    }

    /// The quick start's progress loop prints this line from every answer, including one before the first step.
    @Test func progressLineForAYoungAndARunningJob() throws {
        #expect(StatusReport.sample.progressLine()
                == "state training  step 120/9360 (1.3%)  loss 5.5000  16.0 img/s  2 workers  ETA 1h02m")
        var young = StatusReport.sample
        young.step = 0; young.losses = nil; young.etaSeconds = nil; young.imagesPerSecond = 0
        young.workers = [young.workers[0]]; young.state = "syncing"
        // Through the JSON, as the CLI reads it.
        let decoded = try StatusReport.decode(Data(young.json().utf8))
        #expect(decoded.progressLine() == "state syncing  step 0/9360 (0.0%)  loss -  0.0 img/s  1 worker  ETA -")
    }

    /// Why workers were dropped and which files were unreadable are in the JSON (round-tripping) and in the table.
    @Test func workerErrorsAndSkippedFilesAreInTheJSONAndTheTable() throws {
        var report = StatusReport.sample
        report.workers[1].lastError = "ring setup failed: cannot bind the ring data endpoint tcp://vm:5601"
        let unreachable = "its data endpoint tcp://192.0.2.1:5601 cannot be reached from w1 (no TCP connection)"
        report.workerErrors = [.init(worker: "w4", host: "nodeD", error: unreachable, step: 17, unixTime: 1.8e9)]
        report.skippedFilesRecent = [
            .init(path: "/data/train/Dog/zero.jpg", reason: "empty file", worker: "w1"),
            .init(path: "/data/train/Dog/text.jpg", reason: "not a JPEG or PNG file", worker: "w2"),
        ]
        let json = report.json()
        #expect(json.contains("\"skipped_files\":2,\"skipped_files_recent\":[{\"path\":"
                              + "\"\\/data\\/train\\/Dog\\/zero.jpg\",\"reason\":\"empty file\",\"worker\":\"w1\"}"),
                "\(json)")
        #expect(json.contains("\"last_error\":\"ring setup failed: cannot bind"), "\(json)")
        #expect(json.contains("\"worker_errors\":[{\"error\":\"its data endpoint"), "\(json)")
        #expect(try StatusReport.decode(Data(json.utf8)) == report)
        let t = report.table()
        for needle in ["skipped unreadable files 2, the latest 2:", "  /data/train/Dog/zero.jpg: empty file",
                       "  /data/train/Dog/text.jpg: not a JPEG or PNG file",
                       "  last error of 127.0.0.1:5601: ring setup failed: cannot bind the ring data endpoint "
                           + "tcp://vm:5601",
                       "workers dropped recently (newest last):",
                       "  step 17  w4 (nodeD): its data endpoint tcp://192.0.2.1:5601 cannot be reached from w1"] {
            #expect(t.contains(needle), "missing \(needle) in\n\(t)")
        }
        #expect(!StatusReport.sample.table().contains("last error") && !StatusReport.sample.table().contains("dropped"),
                "no lines when nothing went wrong")
    }

    @Test func onlineKNNIsInTheJSONAndTheTableWhenPresent() throws {
        var report = StatusReport.sample
        #expect(report.json().contains("\"online_knn\":null"), "null when off or before the first result")
        report.onlineKnn = .init(step: 400, top1: 61.2, top5: 97.1, k: 20, trainCount: 5000, valCount: 1000,
                                 seconds: 8.125, worker: "worker0")
        let json = report.json()
        #expect(json.contains("\"online_knn\":{\"k\":20,\"seconds\":8.125,\"step\":400,\"top1\":61.2,\"top5\":97.1,"
                              + "\"train_count\":5000,\"val_count\":1000,\"worker\":\"worker0\"}"), "\(json)")
        #expect(try StatusReport.decode(Data(json.utf8)) == report)
        let t = report.table()
        #expect(t.contains("online kNN step 400  top-1 61.20%  top-5 97.10%  (k=20, 5000/1000 images, worker0, 8.1 s)"),
                "\(t)")
    }
}
