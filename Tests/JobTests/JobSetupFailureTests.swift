import ControlPort
import Foundation
import MugsData
import Testing

extension JobTests {
    /// No misconfiguration hangs a job (issue 13): a worker whose ring side cannot be set up is evicted with its
    /// reason — in the log and in `/status` — and the job goes on with the others within the join timeout; the
    /// worker backs off. Unreadable images are named, once each, in the worker's log and in `/status`.
    @Suite struct JobSetupFailureTests {
        /// Starts a job with w0 and w1 and waits until they train together.
        func twoWorkersTraining(_ h: JobHarness) throws -> Daemon {
            let c = try h.coordinator(["--steps", "100000", "--min-workers", "1", "--hash-every", "0"])
            _ = try h.worker("w0")
            _ = try h.worker("w1")
            try c.waitFor("a 2-worker generation with 2 committed steps", timeout: 60) { e in
                e.contains { $0["event"] as? String == "generation" && $0["world"] as? Int == 2 }
                    && c.committedSteps(e).count >= 2
            }
            return c
        }

        func evictions(_ c: Daemon, of name: String) -> [String] {
            c.events("evict").compactMap { $0["message"] as? String }.filter { $0.hasPrefix(name + " evicted: ") }
        }

        /// Steps committed after an event that matched `after` in the coordinator's log.
        func stepsAfter(_ c: Daemon, _ e: [[String: Any]], _ after: ([String: Any]) -> Bool) -> Int {
            guard let i = e.firstIndex(where: after) else { return 0 }
            return e[(i + 1)...].filter { $0["event"] as? String == "step" }.count
        }

        /// The issue's first failure: a data port that cannot be bound (here an address no interface has: 203.0.113.1,
        /// TEST-NET-3; this project's VM itself sits on TEST-NET-1, 192.0.2.0/24). The worker reports it, the
        /// coordinator evicts it with the reason and the others continue at once.
        @Test(.timeLimit(.minutes(3))) func aWorkerThatCannotBindItsDataPortIsEvictedAndTheJobContinues() throws {
            let h = try JobHarness()
            defer { h.stop() }
            let c = try twoWorkersTraining(h)
            let bad = try h.worker("w2", ["--data-bind", "203.0.113.1"])
            let joined = Date()
            try c.waitFor("w2 evicted for its bind", timeout: 30) { _ in !evictions(c, of: "w2").isEmpty }
            let evictedAfter = Date().timeIntervalSince(joined)
            let reason = evictions(c, of: "w2")[0]
            #expect(reason.hasPrefix("w2 evicted: ring setup failed: cannot bind the ring data endpoint "
                                     + "tcp://203.0.113.1:"), "\(reason)")
            #expect(reason.contains("Cannot assign requested address (errno 99)"), "\(reason)")
            try c.waitFor("3 steps after the eviction", timeout: 30) { e in
                stepsAfter(c, e) { $0["event"] as? String == "evict" } >= 3
            }
            let status = try h.status()
            let errors = status.workerErrors.filter { $0.worker == "w2" }
            #expect(!errors.isEmpty && errors[0].error.hasPrefix("ring setup failed: cannot bind"),
                    "\(status.workerErrors)")
            #expect(!c.events("evict").contains { ($0["message"] as? String)?.hasPrefix("w0") == true
                || ($0["message"] as? String)?.hasPrefix("w1") == true }, "only w2 is evicted:\n\(c.log)")
            print("unbindable worker evicted \(evictedAfter) s after it started")
            // It keeps trying, backing off, and says so.
            try bad.waitFor("w2 backing off", timeout: 40) { e in
                e.contains { ($0["message"] as? String)?.hasPrefix("evicted 2 times in a row without applying a step: "
                                                                       + "joining again in 2 s") == true }
            }
            #expect(bad.events("ring_setup").first?["kind"] as? String == "cannotBind", "\(bad.log)")
            let data = bad.events("data").first?["message"] as? String ?? ""
            #expect(data.contains("bound on tcp://203.0.113.1:"), "\(data)")
            #expect(try h.control("stop") == 202)
            #expect(c.waitForExit(timeout: 60) == 0, "\(c.log)")
        }

        /// A worker its peers cannot reach (it advertises an address no interface has): its predecessor reports that no
        /// connection to it ever came up, and it is evicted within the ring's join timeout; the job goes on without it,
        /// and the reason is in `/status` per worker once it is back (it rejoins and is evicted again, backing off).
        @Test(.timeLimit(.minutes(3))) func aWorkerPeersCannotReachIsEvictedWithinTheJoinTimeout() throws {
            let h = try JobHarness()
            defer { h.stop() }
            let c = try twoWorkersTraining(h)
            let bad = try h.worker("w2", ["--data-host", "203.0.113.1"])
            let joined = Date()
            try c.waitFor("w2 evicted as unreachable", timeout: 60) { _ in !evictions(c, of: "w2").isEmpty }
            let evictedAfter = Date().timeIntervalSince(joined)
            let reason = evictions(c, of: "w2")[0]
            #expect(reason.hasPrefix("w2 evicted: its data endpoint tcp://203.0.113.1:"), "\(reason)")
            // Its predecessor in the ring (w0 or w1, by join order) is the one that cannot reach it.
            #expect(reason.contains("cannot be reached from w0 (no TCP connection within")
                    || reason.contains("cannot be reached from w1 (no TCP connection within"), "\(reason)")
            try c.waitFor("3 steps after the eviction", timeout: 30) { e in
                stepsAfter(c, e) { $0["event"] as? String == "evict" } >= 3
            }
            // Join timeout 4 s, plus the drain of the steps in flight and one plain connection attempt (1 s).
            #expect(evictedAfter < 20, "evicted \(evictedAfter) s after it started")
            print("unreachable worker evicted \(evictedAfter) s after it started")
            try bad.waitFor("w2 backing off", timeout: 60) { e in
                e.contains { ($0["message"] as? String)?.contains("evicted 2 times in a row") == true }
            }
            let status = try h.status()
            let named = status.workerErrors.contains {
                $0.worker == "w2" && $0.error.contains("cannot be reached from w")
            }
            #expect(named, "\(status.workerErrors)")
            #expect(!c.events("evict").contains { ($0["message"] as? String)?.hasPrefix("w0") == true
                || ($0["message"] as? String)?.hasPrefix("w1") == true }, "only w2 is evicted:\n\(c.log)")
            let data = bad.events("data").first?["message"] as? String ?? ""
            #expect(data.hasPrefix("data port: peers connect to tcp://203.0.113.1:") && data.contains("(--data-host)")
                    && data.contains("tcp://0.0.0.0:"), "\(data)")
            bad.kill()
            #expect(try h.control("stop") == 202)
            #expect(c.waitForExit(timeout: 60) == 0, "\(c.log)")
        }

        /// An ImageFolder with four bad files (empty, truncated JPEG, text named .jpg, PNG with a bad CRC) trains; each
        /// file is logged once by the worker that meets it (path and reason), and `/status` counts the four and lists
        /// them with their reasons. A second epoch meets them again without logging or counting them twice.
        @Test(.timeLimit(.minutes(3))) func unreadableFilesAreNamedOnceInTheLogAndInStatus() throws {
            let h = try JobHarness()
            defer { h.stop() }
            let root = h.dir + "/folder"
            let bad = try Self.writeFolder(root, good: 20)
            // 24 images, batch 8: 3 steps per epoch and none left out, so one epoch meets every file.
            let c = try h.coordinator(["--data", root, "--steps", "100000", "--hash-every", "0"])
            let w = try h.worker("w0")
            try c.waitFor("two epochs", timeout: 90) { c.committedSteps($0).count >= 6 }
            let logged = w.events("unreadable")
            let paths = logged.compactMap { $0["path"] as? String }
            #expect(paths.sorted() == bad.keys.sorted(), "\(w.log)")
            for e in logged {
                let path = e["path"] as? String ?? "", reason = e["reason"] as? String ?? ""
                #expect(reason.contains(bad[path] ?? "?"), "\(path): \(reason)")
                #expect(!reason.contains("it was skipped"), "\(reason)")
            }
            let s = try h.status()
            #expect(s.skippedFiles == 4)
            #expect(s.skippedFilesRecent.map(\.path).sorted() == bad.keys.sorted(), "\(s.skippedFilesRecent)")
            #expect(s.skippedFilesRecent.allSatisfy { $0.worker == "w0" && $0.reason.contains(bad[$0.path] ?? "?") })
            #expect(c.events("unreadable").count == 4, "the coordinator names each once:\n\(c.log)")
            #expect(try h.control("stop") == 202)
            #expect(c.waitForExit(timeout: 60) == 0, "\(c.log)")
        }

        /// 32×32 images in two classes (`good` in all) and the four bad files; returns bad path → a word of its reason.
        static func writeFolder(_ root: String, good: Int) throws -> [String: String] {
            let fm = FileManager.default
            for cls in ["cat", "dog"] {
                try fm.createDirectory(atPath: root + "/" + cls, withIntermediateDirectories: true)
            }
            var jpeg: [UInt8] = []
            for i in 0 ..< good {
                var px = [UInt8](repeating: 0, count: 32 * 32 * 3)
                for p in 0 ..< 32 * 32 {
                    let x = p % 32, y = p / 32
                    px[3 * p] = UInt8((x * 8 + i * 13) & 255)
                    px[3 * p + 1] = UInt8((y * 8 + i * 29) & 255)
                    px[3 * p + 2] = UInt8(((x ^ y) * 4 + i * 7) & 255)
                }
                jpeg = try ImageDecoder.encodeJPEG(RGBImage(width: 32, height: 32, bytes: px), quality: 90)
                try Data(jpeg).write(to: URL(fileURLWithPath: root + "/\(i % 2 == 0 ? "cat" : "dog")/img\(i).jpg"))
            }
            var png = Self.png(width: 8, height: 8)
            png[png.count - 13] ^= 0xFF  // the IDAT chunk's CRC ends where the IEND chunk (the last 12 bytes) starts
            let files: [(String, [UInt8], String)] = [
                ("dog/empty.jpg", [], "empty file"),
                ("dog/truncated.jpg", Array(jpeg.prefix(jpeg.count * 3 / 4)), "truncated"),
                ("cat/text.jpg", Array("hello, I am text".utf8), "not a JPEG or PNG"),
                ("cat/badcrc.png", png, "CRC"),
            ]
            var bad: [String: String] = [:]
            for (name, bytes, word) in files {
                try Data(bytes).write(to: URL(fileURLWithPath: root + "/" + name))
                bad[root + "/" + name] = word
            }
            return bad
        }

        /// A valid 8-bit RGB PNG (zlib stored blocks: no compression needed).
        static func png(width: Int, height: Int) -> [UInt8] {
            func be32(_ v: UInt32) -> [UInt8] {
                [UInt8(v >> 24), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)]
            }
            func crc32(_ bytes: [UInt8]) -> UInt32 {
                var c: UInt32 = 0xFFFF_FFFF
                for b in bytes {
                    c ^= UInt32(b)
                    for _ in 0 ..< 8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
                }
                return ~c
            }
            func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
                let body = Array(type.utf8) + data
                return be32(UInt32(data.count)) + body + be32(crc32(body))
            }
            var raw: [UInt8] = []
            for y in 0 ..< height {
                raw.append(0)  // filter: none
                for x in 0 ..< width { raw += [UInt8(x * 30), UInt8(y * 30), 128] }
            }
            var a: UInt32 = 1, b: UInt32 = 0
            for v in raw { a = (a + UInt32(v)) % 65521; b = (b + a) % 65521 }
            let n = UInt16(raw.count)
            let zlib: [UInt8] = [0x78, 0x01, 0x01, UInt8(n & 255), UInt8(n >> 8), UInt8(~n & 255), UInt8(~n >> 8)]
                + raw + be32(b << 16 | a)
            let ihdr = be32(UInt32(width)) + be32(UInt32(height)) + [8, 2, 0, 0, 0]
            return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr) + chunk("IDAT", zlib)
                + chunk("IEND", [])
        }
    }
}
