import ArgumentParser
import Foundation
import MugsData
import MugsEval
import MugsModel

extension Mugs {
    /// `mugs attention`: the last block's [CLS] self-attention per head as PNG heat-maps over the image.
    struct Attention: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Render the last block's [CLS] self-attention per head as PNG heat-maps (DINO's visualisation).",
            discussion: """
                Writes to --out: image.png (the eval-transformed crop), attn-head<h>.png for every head and \
                attn-mean.png (the mean over heads), each --zoom times the crop's size. The image is a JPEG/PNG \
                file or a dataset image given as <spec>#<index> (e.g. fashion-mnist:test#0).

                Example:
                  mugs attention --checkpoint ckpt/ --image fashion-mnist:test#0 --out attention/
                """)

        @Option(help: ArgumentHelp("A checkpoint directory or a backbone .safetensors.", valueName: "dir|file"))
        var checkpoint: String

        @Option(help: "Image file (JPEG/PNG), or <dataset spec>#<index>.")
        var image: String

        @Option(help: "Output directory (created if needed).")
        var out: String

        @Option(help: "Image side in pixels given to the backbone (a multiple of the patch size; default: native).")
        var imageSize: Int?

        @Option(help: "Integer upscaling of the written PNGs (default: enough for ≥ 224 px).")
        var zoom: Int?

        @Option(help: "Heat-map opacity over the image, 0…1.")
        var alpha: Double = 0.6

        @Option(help: "Architecture of a .safetensors backbone (default: read from the file).")
        var arch: String?

        @Option(help: "Attention heads of a custom-sized backbone.")
        var heads: Int?

        @Option(help: "Threads.")
        var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        func validate() throws {
            if let zoom, zoom < 1 { throw ValidationError("--zoom must be ≥ 1, got \(zoom)") }
            guard alpha >= 0 && alpha <= 1 else { throw ValidationError("--alpha must be in [0, 1], got \(alpha)") }
            guard threads >= 1 else { throw ValidationError("--threads must be ≥ 1") }
        }

        func run() throws {
            BLAS.setThreads(threads)
            let pool = ComputePool(threads: threads)
            do {
                let source = try BackboneSource.open(checkpoint, arch: arch, heads: heads)
                let embedder = try source.makeEmbedder()
                let picture = try Self.loadImage(image)
                let size = imageSize ?? embedder.imageSize
                let maps = try AttentionMaps.compute(image: picture, embedder: embedder, size: size, pool: pool)
                let z = zoom ?? max(1, (224 + size - 1) / size)
                do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
                    throw CLIError("mugs attention: \(out): cannot create: \(error.localizedDescription)")
                }
                func file(_ name: String) -> String { (out as NSString).appendingPathComponent(name) }
                try PNGWriter.write(maps.renderCrop(zoom: z), to: file("image.png"))
                for h in 0 ..< maps.heads {
                    try PNGWriter.write(maps.render(head: h, zoom: z, alpha: Float(alpha)), to: file("attn-head\(h).png"))
                }
                try PNGWriter.write(maps.render(head: nil, zoom: z, alpha: Float(alpha)), to: file("attn-mean.png"))
                print("mugs attention: \(source.name), \(maps.heads) heads over a \(maps.gridH)×\(maps.gridW) patch grid "
                      + "(\(size) px) → \(out)/{image,attn-head0…\(maps.heads - 1),attn-mean}.png, "
                      + "\(size * z)×\(size * z) px")
            } catch let error as EvalError {
                throw CLIError("mugs attention: \(error.description)")
            }
        }

        /// A file, or `<spec>#<index>` of a dataset.
        static func loadImage(_ what: String) throws -> RGBImage {
            let image = RGBImage()
            if let hash = what.lastIndex(of: "#"), !FileManager.default.fileExists(atPath: what) {
                let spec = String(what[..<hash]), indexText = what[what.index(after: hash)...]
                guard let index = Int(indexText), index >= 0 else {
                    throw CLIError("mugs attention: --image \(what): '\(indexText)' is not an image index")
                }
                let dataset = try openDataset(spec, option: "--image")
                guard index < dataset.count else {
                    throw CLIError("mugs attention: --image \(what): \(spec) has \(dataset.count) images")
                }
                var buffer: [UInt8] = []
                do { try dataset.load(index, into: image, minimumArea: 0, buffer: &buffer) } catch {
                    throw CLIError("mugs attention: --image \(what): \(error)")
                }
                return image
            }
            var buffer: [UInt8] = []
            do { try ImageDecoder.decodeFile(what, into: image, buffer: &buffer) } catch {
                throw CLIError("mugs attention: --image \(what): \(error)")
            }
            return image
        }
    }
}
