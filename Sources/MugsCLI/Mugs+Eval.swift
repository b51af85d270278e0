import ArgumentParser
import Foundation
import MugsData
import MugsEval
import MugsModel

extension Mugs {
    /// `mugs eval`: evaluations of a trained backbone (kNN, linear probe).
    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Evaluate a backbone: weighted kNN or a linear probe on frozen features.",
            subcommands: [EvalKNN.self, EvalLinear.self])
    }
}

/// Options shared by the evaluation commands: where the backbone is and how features are computed.
struct BackboneOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "A checkpoint directory (step directory, or a root with 'latest'), or a backbone .safetensors (mugs export, "
            + "tools/convert_pth.py).", valueName: "dir|file"))
    var checkpoint: String?

    @Option(help: "Architecture of a .safetensors backbone (default: read from the file; vit_tiny/small/base/large).")
    var arch: String?

    @Option(help: "Attention heads of a custom-sized backbone (default: file metadata or the preset's).")
    var heads: Int?

    @Option(help: "Eval image side in pixels (default: the backbone's native size, from its pos_embed).")
    var imageSize: Int?

    @Option(help: "Images per forward pass.")
    var batch: Int = 64

    @Option(help: "Threads for the GEMM engine, the kernels and decoding (default: all cores of this process).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Feature cache directory (default: $MUGS_CACHE_DIR/features or ~/.cache/mugs/features).")
    var cacheDir: String?

    @Flag(help: "Do not read or write the feature cache.")
    var noCache = false

    func validateShared() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be ≥ 1, got \(batch)") }
        guard threads >= 1 else { throw ValidationError("--threads must be ≥ 1, got \(threads)") }
        if let heads, heads < 1 { throw ValidationError("--heads must be ≥ 1, got \(heads)") }
        if let imageSize, imageSize < 1 { throw ValidationError("--image-size must be ≥ 1, got \(imageSize)") }
    }

    func source() throws -> BackboneSource {
        guard let checkpoint else { throw ValidationError("--checkpoint is required") }
        return try BackboneSource.open(checkpoint, arch: arch, heads: heads)
    }
}

/// Opens a dataset spec with a message that names the option.
func openDataset(_ spec: String, option: String) throws -> ImageDataset {
    do { return try DatasetSpec.open(spec) } catch {
        throw CLIError("\(option) \(spec): \(error)")
    }
}

/// Progress on stderr: one line redrawn every second on a terminal, a line every 15 s otherwise (logs); nothing
/// when quiet. The rate counts from the first report of a phase (the first batch's own time is not known).
final class ProgressLine {
    let quiet: Bool
    let terminal = isatty(2) != 0
    var started = Date()
    var startDone = 0
    var last = Date.distantPast
    var current = ""

    init(quiet: Bool) { self.quiet = quiet }

    func update(_ what: String, _ done: Int, _ total: Int) {
        guard !quiet else { return }
        let now = Date()
        if what != current { current = what; started = now; startDone = done; last = .distantPast }
        guard done == total || now.timeIntervalSince(last) >= (terminal ? 1 : 15) else { return }
        last = now
        let seconds = now.timeIntervalSince(started)
        var line = "\(what): \(done)/\(total) images"
        if seconds >= 0.5 && done > startDone {
            line += String(format: " (%.0f img/s)", Double(done - startDone) / seconds)
        }
        let text = terminal ? "\r" + line + (done == total ? "\n" : "") : line + "\n"
        FileHandle.standardError.write(Data(text.utf8))
    }
}
