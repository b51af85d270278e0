import ArgumentParser
import Foundation
import MugsModel

extension Mugs {
    /// `mugs config show|check`: print a full config with a comment per field, or check a config file.
    struct Config: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show or check training configs (flat YAML, fields named as the reference's arguments).",
            subcommands: [Show.self, Check.self])

        struct Show: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Print a full config (every field, its value, help and reference argument).")

            @Option(help: "A preset: \(MugsConfig.presetNames.joined(separator: ", ")).")
            var preset: String = "reference_defaults"

            @Option(help: "A config file to show in full instead of a preset.")
            var file: String?

            func validate() throws {
                if file == nil && MugsConfig.preset(named: preset) == nil {
                    throw ValidationError("unknown preset '\(preset)'; known: "
                        + MugsConfig.presetNames.joined(separator: ", "))
                }
            }

            func run() throws {
                if let file {
                    print(ConfigYAML.render(try ConfigYAML.load(path: file), title: "mugs config from \(file)"),
                          terminator: "")
                } else {
                    let config = MugsConfig.preset(named: preset)!
                    print(ConfigYAML.render(config, title: "mugs config preset '\(preset)'"), terminator: "")
                }
            }
        }

        struct Check: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Check a config file: exit 0 and a summary if valid, else the error naming line and field.")

            @Argument(help: "The config file.")
            var file: String

            func run() throws {
                do {
                    let c = try ConfigYAML.load(path: file)
                    print("\(file): ok — \(c.arch) (C=\(c.embedDim), depth \(c.blockCount), heads \(c.headCount)), "
                        + "patch \(c.patch_size), crops 2×\(c.global_crop_size)px + \(c.local_crops_number)×"
                        + "\(c.local_crop_size)px, batch \(c.batch_size), \(c.epochs) epochs")
                } catch let error as ConfigError {
                    FileHandle.standardError.write(Data((error.description + "\n").utf8))
                    throw ExitCode.failure
                }
            }
        }
    }
}
