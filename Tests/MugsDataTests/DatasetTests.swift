import Foundation
import Testing
@testable import MugsData

/// A temporary directory removed at the end of the test.
final class TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "mugs-data-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func write(_ rel: String, _ bytes: [UInt8]) {
        let full = path + "/" + rel
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: full, contents: Data(bytes))
    }
}

/// A small test image whose colours depend on `seed`.
func testImage(width: Int, height: Int, seed: Int) -> RGBImage {
    let img = RGBImage(width: width, height: height)
    for y in 0 ..< height {
        for x in 0 ..< width {
            let p = img.pixels + (y * width + x) * 3
            p[0] = UInt8(truncatingIfNeeded: x * 7 + seed * 31)
            p[1] = UInt8(truncatingIfNeeded: y * 5 + seed * 17)
            p[2] = UInt8(truncatingIfNeeded: (x ^ y) * 3 + seed)
        }
    }
    return img
}

@Suite("Datasets, decoding errors, index cache, export")
struct DatasetTests {
    @Test func fashionMNISTSplits() throws {
        let train = try DatasetSpec.open("fashion-mnist:train")
        let test = try DatasetSpec.open("fashion-mnist:test")
        #expect(train.count == 60000 && test.count == 10000)
        #expect(train.classNames.count == 10 && train.classNames[9] == "Ankle boot")
        #expect((0 ..< 5).map(train.label) == [9, 0, 0, 3, 0]) // values read with numpy from the same IDX files
        #expect((0 ..< 5).map(test.label) == [9, 2, 1, 1, 6])
        let img = RGBImage()
        var buf: [UInt8] = []
        try train.load(0, into: img, minimumArea: 0, buffer: &buf)
        #expect(img.width == 28 && img.height == 28)
        var sum = 0
        for i in 0 ..< 28 * 28 {
            #expect(img.pixels[3 * i] == img.pixels[3 * i + 1] && img.pixels[3 * i] == img.pixels[3 * i + 2])
            sum += Int(img.pixels[3 * i])
        }
        #expect(sum == 76247) // numpy: images[0].sum()
        #expect(train.fingerprint != test.fingerprint)
        #expect(throws: DataError.self) { try DatasetSpec.open("fashion-mnist:validation") }
        #expect(throws: DataError.self) { try DatasetSpec.open("/nonexistent/dir") }
    }

    @Test func imageFolderOrderAndBadFiles() throws {
        let dir = TempDir()
        let good = try ImageDecoder.encodeJPEG(testImage(width: 96, height: 64, seed: 1), quality: 90)
        dir.write("cat/b.jpg", good)
        dir.write("cat/a.JPEG", good)
        dir.write("cat/sub/c.jpg", good)
        dir.write("cat/notes.txt", Array("not an image".utf8)) // other extension: ignored
        dir.write("Dog/x.jpg", good) // 'D' < 'c': Dog is class 0 (code-point order, as Python's sorted)
        // Bad files that carry image extensions.
        dir.write("Dog/zero.jpg", [])
        dir.write("Dog/truncated.jpg", Array(good.prefix(good.count * 3 / 4))) // cut inside the scan data
        dir.write("Dog/headonly.jpg", Array(good.prefix(200))) // cut inside the header
        dir.write("Dog/text.jpg", Array("hello, I am text".utf8))
        var png = [UInt8](try Data(contentsOf: Fixtures.shared.directory.appendingPathComponent("enc_gray.png")))
        dir.write("cat/good.png", png)
        // Corrupt the CRC of the first IDAT chunk.
        if let idat = (0 ..< png.count - 4).first(where: { png[$0 ..< $0 + 4].elementsEqual(Array("IDAT".utf8)) }) {
            let len = Int(png[idat - 4]) << 24 | Int(png[idat - 3]) << 16 | Int(png[idat - 2]) << 8 | Int(png[idat - 1])
            png[idat + 4 + len] ^= 0xFF
        }
        dir.write("cat/badcrc.png", png)

        let cache = TempDir()
        let ds = try DatasetSpec.open(dir.path, cacheDirectory: cache.path) as! ImageFolder
        #expect(!ds.fromCache)
        #expect(ds.classNames == ["Dog", "cat"])
        let names = (0 ..< ds.count).map { ds.index.paths[$0] }
        #expect(names == ["Dog/headonly.jpg", "Dog/text.jpg", "Dog/truncated.jpg", "Dog/x.jpg", "Dog/zero.jpg",
                          "cat/a.JPEG", "cat/b.jpg", "cat/badcrc.png", "cat/good.png", "cat/sub/c.jpg"])
        #expect((0 ..< ds.count).map(ds.label) == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])

        // Each bad file is a typed error naming the path; good ones decode.
        let img = RGBImage()
        var buf: [UInt8] = []
        var failures: [String: String] = [:]
        for i in 0 ..< ds.count {
            do { try ds.load(i, into: img, minimumArea: 0, buffer: &buf) } catch let e as DataError {
                #expect(e.kind == .unreadableImage && e.subject == ds.name(i))
                failures[ds.index.paths[i]] = e.hint
            }
        }
        #expect(Set(failures.keys) == ["Dog/headonly.jpg", "Dog/text.jpg", "Dog/truncated.jpg", "Dog/zero.jpg",
                                       "cat/badcrc.png"],
                "\(failures)")
        #expect(failures["Dog/zero.jpg"]?.contains("empty") == true)
        #expect(failures["Dog/truncated.jpg"]?.contains("truncated") == true, "\(failures)")

        // The loader fills every slot with readable images and reports the bad ones once each.
        let loader = try BatchLoader(dataset: ds, config: .cpuFashionMNIST, batchSize: ds.count, seed: 3, threads: 2)
        defer { loader.shutdown() }
        try loader.submit(epoch: 0, indices: Array(0 ..< ds.count))
        let batch = try loader.next()
        let used = (0 ..< ds.count).map { Int(batch.sampleIndex[$0]) }
        #expect(used.allSatisfy { failures[ds.index.paths[$0]] == nil }, "\(used)")
        #expect(used[0] == 3 && used[4] == 5) // headonly.jpg (0) → x.jpg (3); zero.jpg (4) → a.JPEG (5)
        loader.recycle(batch)
        #expect(Set(loader.badFiles.map(\.name)) == Set(failures.keys.map { ds.root + "/" + $0 }))
    }

    @Test func indexCacheReuseAndChangeDetection() throws {
        let dir = TempDir(), cache = TempDir()
        let jpeg = try ImageDecoder.encodeJPEG(testImage(width: 8, height: 8, seed: 2))
        dir.write("a/1.jpg", jpeg)
        dir.write("b/1.jpg", jpeg)
        let first = try ImageFolder.open(root: dir.path, cacheDirectory: cache.path)
        let second = try ImageFolder.open(root: dir.path, cacheDirectory: cache.path)
        #expect(!first.fromCache && second.fromCache)
        #expect(first.fingerprint == second.fingerprint && second.count == 2)
        // A new file changes its directory's mtime: the cache is rejected and the folder re-scanned.
        dir.write("b/2.jpg", jpeg)
        // Make the change visible even on file systems with coarse mtimes: date the directory explicitly.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 10)],
                                              ofItemAtPath: dir.path + "/b")
        let third = try ImageFolder.open(root: dir.path, cacheDirectory: cache.path)
        #expect(!third.fromCache && third.count == 3 && third.fingerprint != first.fingerprint)
        // A corrupt cache file is ignored, never fatal.
        let cacheFile = FolderIndex.cachePath(root: third.root, directory: cache.path)!
        FileManager.default.createFile(atPath: cacheFile, contents: Data("mugs-folder-index 1\ngarbage".utf8))
        let fourth = try ImageFolder.open(root: dir.path, cacheDirectory: cache.path)
        #expect(!fourth.fromCache && fourth.count == 3)
        // Empty class folders are refused as torchvision does.
        try FileManager.default.createDirectory(atPath: dir.path + "/c", withIntermediateDirectories: true)
        #expect(throws: DataError.self) { try ImageFolder.open(root: dir.path, cacheDirectory: cache.path) }
    }

    @Test func exportFashionMNISTRoundTrip() throws {
        let src = try DatasetSpec.open("fashion-mnist:test")
        let out = TempDir()
        let summary = try DatasetExport.imageFolder(src, to: out.path, quality: 95, limit: 40)
        #expect(summary.written == 40 && summary.skipped.isEmpty)
        let cache = TempDir() // outside the root: torchvision counts hidden folders as classes too
        let folder = try ImageFolder.open(root: out.path, cacheDirectory: cache.path)
        #expect(folder.count == 40 && folder.classNames.count == 10)
        #expect(folder.classNames[9] == "09_Ankle_boot" && folder.classNames[0] == "00_T-shirt_top")
        // Same images (up to JPEG loss), same labels, matched by file name.
        let a = RGBImage(), b = RGBImage()
        var buf: [UInt8] = []
        for i in 0 ..< folder.count {
            let idx = Int((folder.index.paths[i] as NSString).lastPathComponent.prefix(2))!
            try src.load(idx, into: a, minimumArea: 0, buffer: &buf)
            try folder.load(i, into: b, minimumArea: 0, buffer: &buf)
            #expect(folder.label(i) == src.label(idx))
            var err = 0.0
            for k in 0 ..< a.byteCount { err += abs(Double(a.pixels[k]) - Double(b.pixels[k])) }
            #expect(err / Double(a.byteCount) < 4, "mean |Δ| \(err / Double(a.byteCount)) for image \(idx)")
        }
        // The exported folder streams reproducible crops through the loader (two loaders, different threads).
        var batches: [[Float]] = []
        for threads in [1, 2] {
            let loader = try BatchLoader(dataset: folder, config: .cpuFashionMNIST, batchSize: 8, seed: 11,
                                         threads: threads)
            try loader.submit(epoch: 4, indices: [0, 5, 9, 13, 21, 22, 30, 39])
            let b = try loader.next()
            batches.append(Array(UnsafeBufferPointer(start: b.studentLocal, count: b.L * b.B * b.localCropFloats))
                + Array(UnsafeBufferPointer(start: b.teacherGlobal, count: 2 * b.B * b.globalCropFloats)))
            loader.recycle(b)
            loader.shutdown()
        }
        #expect(batches[0] == batches[1] && batches[0].allSatisfy { $0.isFinite })
    }

    @Test func dctScaledDecode() throws {
        let big = testImage(width: 400, height: 300, seed: 5)
        let jpeg = try ImageDecoder.encodeJPEG(big, quality: 90)
        let img = RGBImage()
        try jpeg.withUnsafeBytes { try ImageDecoder.decode($0, into: img, minimumArea: 0, source: "big") }
        #expect(img.width == 400 && img.height == 300)
        try jpeg.withUnsafeBytes { try ImageDecoder.decode($0, into: img, minimumArea: 100 * 75, source: "big") }
        #expect(img.width == 100 && img.height == 75) // 1/4: the largest scale keeping ≥ 100·75 pixels
        try jpeg.withUnsafeBytes { try ImageDecoder.decode($0, into: img, minimumArea: 100 * 76, source: "big") }
        #expect(img.width == 200 && img.height == 150)
    }
}
