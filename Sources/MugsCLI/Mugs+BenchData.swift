import ArgumentParser
import Foundation
import MugsData
import MugsModel
import Sampling

extension Mugs {
    /// `mugs bench data`: decode + full multi-crop augmentation throughput on one core, beside the torchvision +
    /// PIL + timm reference pipeline (`tools/bench_data_pil.py`) run on the same images in the same invocation.
    struct BenchData: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "data",
            abstract: "Time decode + the paper crop set (2+2 global 224, 10 local 96) on 500×375 JPEGs and the "
                + "cpu_fashion_mnist crops, per core, beside the PIL reference.",
            discussion: """
                paper: synthetic ImageNet-sized JPEGs (500×375, quality 90, generated once under --jpeg-dir) are read \
                from disk, decoded and turned into the 14 crops. cpu: Fashion-MNIST images (in memory) into the \
                cpu_fashion_mnist crops (2+2 global 32, 6 local 16). Both single-threaded, so img/s is per core. \
                With --reference, the PIL pipeline runs on the same inputs and the ratio is printed.

                Example (what tools/bench_data.sh runs):
                  mugs bench data --reference ~/mugs-ref/bin/python
                """)

        enum Preset: String, ExpressibleByArgument, CaseIterable { case paper, cpu, both }

        @Option(help: "paper, cpu or both.")
        var preset: Preset = .both

        @Option(help: "Images timed for the paper preset (after 3 warm-up images).")
        var images: Int = 200

        @Option(help: "Images timed for the cpu preset.")
        var fmnistImages: Int = 5000

        @Option(help: "Where the synthetic 500×375 JPEGs are kept (generated when missing).")
        var jpegDir: String = NSTemporaryDirectory() + "mugs-bench-jpeg-500x375"

        @Option(help: "Python of the reference venv; when given, tools/bench_data_pil.py runs on the same inputs.")
        var reference: String?

        @Option(help: "Path of the PIL reference script.")
        var referenceScript: String = "tools/bench_data_pil.py"

        @Option(help: "Seed of the augmentation randomness.")
        var seed: UInt64 = 0

        func validate() throws {
            guard images >= 1, fmnistImages >= 1 else { throw ValidationError("image counts must be ≥ 1") }
        }

        func run() throws {
            print("mugs bench data: 1 thread (img/s = img/s per core); crops as the reference composes them")
            var rows: [(String, Double, Double?)] = []
            if preset != .cpu {
                let files = try Self.syntheticJPEGs(dir: jpegDir, count: images + 3)
                let ours = try measurePaper(files: files)
                let ref = try reference.map { try runReference(python: $0, preset: "paper", count: images) }
                rows.append(("paper  decode 500×375 JPEG + 2+2×224 + 10×96", ours, ref))
            }
            if preset != .paper {
                let ours = try measureFashionMNIST()
                let ref = try reference.map { try runReference(python: $0, preset: "cpu", count: fmnistImages) }
                rows.append(("cpu    fashion-mnist 28×28 + 2+2×32 + 6×16", ours, ref))
            }
            print("")
            for (name, ours, ref) in rows {
                var line = "\(name):  mugs \(String(format: "%.1f", ours)) img/s/core"
                if let ref {
                    line += ",  PIL \(String(format: "%.1f", ref)) img/s/core,  ratio \(String(format: "%.2f", ours / ref))×"
                }
                print(line)
            }
        }

        /// Decode from disk + all crops, one image at a time, like one loader thread.
        func measurePaper(files: [String]) throws -> Double {
            let config = MultiCropConfig.paper
            let augmenter = try MultiCropAugmenter(config: config)
            let batch = CropBatch(batchSize: 1, config: config)
            let image = RGBImage()
            var buffer: [UInt8] = []
            var decodeSeconds = 0.0
            var started = Date()
            for (i, path) in files.enumerated() {
                if i == 3 { started = Date(); decodeSeconds = 0 }
                let t0 = Date()
                try ImageDecoder.decodeFile(path, into: image, minimumArea: config.decodeMinimumArea, buffer: &buffer)
                decodeSeconds += Date().timeIntervalSince(t0)
                BatchLoader.augment(image, index: i, epoch: 0, seed: seed, into: batch, position: 0, label: 0,
                                    augmenter: augmenter)
            }
            let seconds = Date().timeIntervalSince(started)
            let n = Double(files.count - 3)
            print(String(format: "paper: %d images in %.2f s (decode %.1f ms/img, crops %.1f ms/img)",
                         files.count - 3, seconds, 1000 * decodeSeconds / n, 1000 * (seconds - decodeSeconds) / n))
            return n / seconds
        }

        func measureFashionMNIST() throws -> Double {
            let ds = try DatasetSpec.open("fashion-mnist:train")
            let config = MultiCropConfig.cpuFashionMNIST
            let augmenter = try MultiCropAugmenter(config: config)
            let batch = CropBatch(batchSize: 1, config: config)
            let image = RGBImage()
            var buffer: [UInt8] = []
            var started = Date()
            for i in 0 ..< fmnistImages + 20 {
                if i == 20 { started = Date() }
                try ds.load(i % ds.count, into: image, minimumArea: 0, buffer: &buffer)
                BatchLoader.augment(image, index: i, epoch: 0, seed: seed, into: batch, position: 0, label: 0,
                                    augmenter: augmenter)
            }
            let seconds = Date().timeIntervalSince(started)
            print(String(format: "cpu: %d images in %.2f s", fmnistImages, seconds))
            return Double(fmnistImages) / seconds
        }

        func runReference(python: String, preset: String, count: Int) throws -> Double {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [referenceScript, "--preset", preset, "--images", String(count), "--jpeg-dir", jpegDir]
            let pipe = Pipe()
            process.standardOutput = pipe
            do { try process.run() } catch {
                throw CLIError("mugs bench data: cannot run \(python) \(referenceScript): \(error.localizedDescription)")
            }
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            for line in output.split(separator: "\n") { print("  [PIL] " + line) }
            guard process.terminationStatus == 0,
                  let last = output.split(separator: "\n").last(where: { $0.hasPrefix("RESULT ") }),
                  let value = Double(last.split(separator: " ").last ?? "") else {
                throw CLIError("mugs bench data: the reference exited with \(process.terminationStatus) "
                               + "without a RESULT line")
            }
            return value
        }

        /// Deterministic photo-like 500×375 JPEGs (smooth colour fields, edges, texture, sensor-like noise) so
        /// that entropy-decoding costs resemble ImageNet's; generated once, reused by both pipelines.
        static func syntheticJPEGs(dir: String, count: Int, width: Int = 500, height: Int = 375) throws -> [String] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            var files: [String] = []
            let image = RGBImage(width: width, height: height)
            for i in 0 ..< count {
                let path = dir + "/" + String(format: "img_%05d.jpg", i)
                files.append(path)
                if FileManager.default.fileExists(atPath: path) { continue }
                var rng = SampleRNG(key: [0x6A70_6567, UInt64(i)])
                let fx = (0 ..< 3).map { _ in rng.uniform(0.005, 0.05) }, fy = (0 ..< 3).map { _ in rng.uniform(0.005, 0.05) }
                let phase = (0 ..< 3).map { _ in rng.uniform(0, 6.28) }
                let cx = rng.uniform(0, Double(width)), cy = rng.uniform(0, Double(height))
                let radius = rng.uniform(40, 150)
                for y in 0 ..< height {
                    for x in 0 ..< width {
                        let p = image.pixels + (y * width + x) * 3
                        let inside = (Double(x) - cx) * (Double(x) - cx) + (Double(y) - cy) * (Double(y) - cy) < radius * radius
                        for c in 0 ..< 3 {
                            var v = 128 + 70 * sin(fx[c] * Double(x) + phase[c]) * cos(fy[c] * Double(y))
                            v += 25 * sin(0.31 * Double(x + 3 * c) + 0.17 * Double(y)) // texture
                            if inside { v = 255 - v * 0.6 }
                            v += 9 * rng.normal()
                            p[c] = UInt8(max(0, min(255, v)))
                        }
                    }
                }
                let jpeg = try ImageDecoder.encodeJPEG(image, quality: 90)
                guard FileManager.default.createFile(atPath: path, contents: Data(jpeg)) else {
                    throw CLIError("mugs bench data: cannot write \(path)")
                }
            }
            return files
        }
    }
}
