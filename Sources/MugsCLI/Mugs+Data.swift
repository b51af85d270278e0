import ArgumentParser
import Foundation
import MugsData
import MugsModel
import SafeTensors

extension Mugs {
    /// `mugs data …`: dataset tools (index, verify, export). Named DataTools so it does not shadow Foundation.Data.
    struct DataTools: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "data",
            abstract: "Dataset tools: build the folder index, verify every image decodes, export as JPEG folders.",
            subcommands: [DataIndex.self, DataVerify.self, DataExport.self, DataCrops.self])
    }

    /// `mugs data index`: scans (or revalidates the cached index of) a dataset and prints what it holds.
    struct DataIndex: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "index",
            abstract: "Index a dataset (cached for ImageFolder roots) and print its size, classes and fingerprint.",
            discussion: """
                SPEC is an ImageFolder root (root/<class>/<image>.jpg|jpeg|png) or fashion-mnist:train / \
                fashion-mnist:test. Folder indexes are cached under --cache-dir (default $MUGS_CACHE_DIR, \
                $XDG_CACHE_HOME/mugs or ~/.cache/mugs) and reused while no indexed directory changed.

                Example:
                  mugs data index --data /data/imagenet/train
                """)

        @Option(help: "Dataset spec: an ImageFolder root, fashion-mnist:train or fashion-mnist:test.")
        var data: String

        @Option(help: "Directory for folder index caches.")
        var cacheDir: String?

        func run() throws {
            let started = Date()
            let ds: ImageDataset
            do { ds = try DatasetSpec.open(data, cacheDirectory: cacheDir) } catch let e as DataError {
                throw CLIError("mugs data index: \(e)")
            }
            let seconds = Date().timeIntervalSince(started)
            var source = ""
            if let folder = ds as? ImageFolder {
                source = folder.fromCache ? " (index from cache)" : " (scanned)"
            }
            print("\(ds.spec): \(ds.count) images, \(ds.classNames.count) classes\(source), "
                  + String(format: "%.2f s", seconds))
            print("fingerprint: \(ds.fingerprint)")
            let shown = ds.classNames.prefix(10).enumerated().map { "\($0.offset): \($0.element)" }
            print("classes: " + shown.joined(separator: ", ") + (ds.classNames.count > 10 ? ", …" : ""))
        }
    }

    /// `mugs data verify`: decodes every image and lists the ones that cannot be read.
    struct DataVerify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Decode every image of a dataset; list unreadable files (training skips them the same way).")

        @Option(help: "Dataset spec: an ImageFolder root, fashion-mnist:train or fashion-mnist:test.")
        var data: String

        @Option(help: "Check only the first N images.")
        var limit: Int?

        @Option(help: "Decoding threads.")
        var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        @Option(help: "Directory for folder index caches.")
        var cacheDir: String?

        func validate() throws {
            guard threads >= 1 else { throw ValidationError("--threads must be ≥ 1, got \(threads)") }
            if let limit, limit < 1 { throw ValidationError("--limit must be ≥ 1, got \(limit)") }
        }

        func run() throws {
            let ds: ImageDataset
            do { ds = try DatasetSpec.open(data, cacheDirectory: cacheDir) } catch let e as DataError {
                throw CLIError("mugs data verify: \(e)")
            }
            let n = min(limit ?? ds.count, ds.count)
            let started = Date()
            let lock = NSLock()
            var bad: [(Int, String)] = []
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let image = RGBImage()
                var buffer: [UInt8] = []
                var i = t
                while i < n {
                    do { try ds.load(i, into: image, minimumArea: 0, buffer: &buffer) } catch {
                        let reason = (error as? DataError)?.hint ?? "\(error)"
                        lock.lock(); bad.append((i, reason)); lock.unlock()
                    }
                    i += threads
                }
            }
            let seconds = Date().timeIntervalSince(started)
            for (i, reason) in bad.sorted(by: { $0.0 < $1.0 }) { print("unreadable: \(ds.name(i)): \(reason)") }
            print("\(ds.spec): \(n - bad.count) of \(n) images decode, \(bad.count) unreadable, "
                  + String(format: "%.1f s (%.0f img/s, %d threads)", seconds, Double(n) / seconds, threads))
        }
    }

    /// `mugs data export`: writes a dataset as an ImageFolder of JPEG files.
    struct DataExport: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Write a dataset (e.g. fashion-mnist:train) as an ImageFolder of JPEG files.",
            discussion: """
                Class folders are named <label>_<class name> (zero-padded, so sorting keeps the label order); \
                files are <index>.jpg. The result trains through the real file path (folder index, libjpeg decode).

                Example:
                  mugs data export --data fashion-mnist:train --out /tmp/fmnist-train
                """)

        @Option(help: "Dataset spec to export.")
        var data: String

        @Option(help: "Output directory (created).")
        var out: String

        @Option(help: "JPEG quality 1...100.")
        var quality: Int = 95

        @Option(help: "Export only the first N images.")
        var limit: Int?

        func validate() throws {
            guard (1 ... 100).contains(quality) else { throw ValidationError("--quality must be 1...100, got \(quality)") }
            if let limit, limit < 1 { throw ValidationError("--limit must be ≥ 1, got \(limit)") }
        }

        func run() throws {
            let started = Date()
            do {
                let ds = try DatasetSpec.open(data)
                let summary = try DatasetExport.imageFolder(ds, to: out, quality: quality, limit: limit) { done, total in
                    if done % 10000 == 0 { print("  \(done)/\(total)") }
                }
                for (name, reason) in summary.skipped { print("skipped \(name): \(reason)") }
                let seconds = Date().timeIntervalSince(started)
                print("wrote \(summary.written) JPEG images (\(String(format: "%.1f", Double(summary.bytes) / 1e6)) MB, "
                      + "quality \(quality)) in \(ds.classNames.count) class folders under \(out), "
                      + String(format: "%.1f s", seconds))
            } catch let e as DataError {
                throw CLIError("mugs data export: \(e)")
            }
        }
    }

    /// `mugs data crops`: one batch of multi-crop views written as a crops file (what `mugs debug-step` reads).
    struct DataCrops: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "crops",
            abstract: "Write the multi-crop views of given images as a crops file (teacher_global, student_global, "
                + "student_local, weak, labels, sample_index).",
            discussion: """
                The layout is the training step's: teacher_global [2,B,3,G,G], student_global [2,B,3,G,G], \
                student_local [L,B,3,l,l], weak [B] (0/1); labels and sample_index [B] (float). Crops depend only \
                on (seed, epoch, index).

                Example:
                  mugs data crops --data fashion-mnist:train --preset cpu --indices 0,1,2,3 --out crops.safetensors
                """)

        enum Preset: String, ExpressibleByArgument, CaseIterable { case paper, cpu }

        @Option(help: "Dataset spec.")
        var data: String

        @Option(help: "paper (global 224, local 96, L=10) or cpu (global 32, local 16, L=6).")
        var preset: Preset = .cpu

        @Option(help: "Override the number of local crops L.")
        var localCount: Int?

        @Option(help: "Comma-separated dataset indices (the batch, in order).")
        var indices: String

        @Option(help: "Epoch (part of every image's random key).")
        var epoch: Int = 0

        @Option(help: "Seed (part of every image's random key).")
        var seed: UInt64 = 0

        @Option(help: "Output .safetensors.")
        var out: String

        func run() throws {
            let list = indices.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !list.isEmpty, list.allSatisfy({ $0 != nil }) else {
                throw ValidationError("--indices must be comma-separated integers, got '\(indices)'")
            }
            var config = preset == .paper ? MultiCropConfig.paper : MultiCropConfig.cpuFashionMNIST
            if let localCount {
                guard localCount >= 0 else { throw ValidationError("--local-count must be ≥ 0") }
                config.localCount = localCount
            }
            do {
                let ds = try DatasetSpec.open(data)
                let loader = try BatchLoader(dataset: ds, config: config, batchSize: list.count, seed: seed, threads: 1,
                                             depth: 1)
                defer { loader.shutdown() }
                try loader.submit(epoch: epoch, indices: list.map { $0! })
                let b = try loader.next()
                defer { loader.recycle(b) }
                let B = b.B, G = b.G, l = b.l, L = b.L
                func floats(_ p: UnsafeMutablePointer<Float>, _ n: Int) -> UnsafeBufferPointer<Float> {
                    UnsafeBufferPointer(start: p, count: n)
                }
                try SafeTensors.write(path: out, tensors: [
                    SafeTensorsEntry("teacher_global", shape: [2, B, 3, G, G], borrowing: floats(b.teacherGlobal, 2 * B * 3 * G * G)),
                    SafeTensorsEntry("student_global", shape: [2, B, 3, G, G], borrowing: floats(b.studentGlobal, 2 * B * 3 * G * G)),
                    SafeTensorsEntry("student_local", shape: [L, B, 3, l, l], borrowing: floats(b.studentLocal, L * B * 3 * l * l)),
                    SafeTensorsEntry("weak", shape: [B], values: (0 ..< B).map { Float(b.weak[$0]) }),
                    SafeTensorsEntry("labels", shape: [B], values: (0 ..< B).map { Float(b.labels[$0]) }),
                    SafeTensorsEntry("sample_index", shape: [B], values: (0 ..< B).map { Float(b.sampleIndex[$0]) }),
                ], metadata: ["generator": "mugs data crops", "data": data, "epoch": "\(epoch)", "seed": "\(seed)",
                              "indices": indices, "preset": preset.rawValue])
                for f in loader.badFiles { print("replaced unreadable \(f.name): \(f.reason)") }
                print("wrote \(B) images × (2 + 2 global \(G) px, \(L) local \(l) px) to \(out); weak: "
                      + (0 ..< B).map { String(b.weak[$0]) }.joined(separator: ","))
            } catch let e as DataError {
                throw CLIError("mugs data crops: \(e)")
            }
        }
    }
}
