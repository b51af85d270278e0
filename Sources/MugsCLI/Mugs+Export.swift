import ArgumentParser
import Foundation
import MugsEval

extension Mugs {
    /// `mugs export`: the teacher backbone as safetensors under plain timm names.
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a checkpoint's teacher backbone as safetensors that timm loads with strict=True.",
            discussion: """
                The file holds cls_token, pos_embed, patch_embed.proj.*, blocks.N.*, norm.* (timm's names and \
                shapes; the Mugs relation block and heads are left out) and metadata naming the timm call, e.g.:

                  import timm, safetensors.torch
                  m = timm.create_model('vit_small_patch16_224', num_classes=0)
                  m.load_state_dict(safetensors.torch.load_file('vit_small_mugs.safetensors'), strict=True)

                Other sizes add arguments (printed by this command), e.g. patch_size=4, img_size=32.

                Example:
                  mugs export --checkpoint ckpt/latest --out vit_small_mugs.safetensors
                """)

        @Option(help: ArgumentHelp("A checkpoint directory, or a backbone .safetensors to re-export.",
                                   valueName: "dir|file"))
        var checkpoint: String

        @Option(help: "Output .safetensors (written atomically).")
        var out: String

        @Option(help: "Architecture of a .safetensors input (default: read from the file).")
        var arch: String?

        @Option(help: "Attention heads of a custom-sized input (default: metadata or the preset's).")
        var heads: Int?

        @Flag(help: "Print only errors.")
        var quiet = false

        func run() throws {
            do {
                let source = try BackboneSource.open(checkpoint, arch: arch, heads: heads)
                let (names, call) = try TimmExport.export(source, to: out)
                if !quiet {
                    let step = source.checkpoint.map { " at step \($0.step)" } ?? ""
                    print("mugs export: \(source.name) teacher backbone of \(source.checkpoint?.path ?? source.weightsPath)"
                          + "\(step) → \(out) (\(names.count) tensors, timm names)")
                    print("  load it with: m = \(call)")
                    print("                m.load_state_dict(safetensors.torch.load_file('\(out)'), strict=True)")
                }
            } catch {
                throw CLIError("mugs export: \(error.description)")
            }
        }
    }
}
