import ArgumentParser
import Foundation
import MugsModel
import SafeTensors

extension Mugs {
    /// `mugs debug-step`: one training step from a checkpoint on given crops; writes the next checkpoint and the raw
    /// gradients, prints the losses and schedule values as JSON. This is how mugs is checked against the reference.
    struct DebugStep: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "debug-step",
            abstract: "Run one training step from a checkpoint on a crops file; write the next checkpoint.",
            discussion: """
            The crops file (safetensors) holds teacher_global [2,B,3,G,G], student_global [2,B,3,G,G], \
            student_local [L,B,3,l,l] and weak [B] (0/1), optionally drop_global [depth,2,2B] and drop_local \
            [depth,2,L*B] drop-path keep masks. --state is a checkpoint directory (or a checkpoint root: its \
            'latest'); a missing optimizer.safetensors means zero moments. --out receives model/optimizer/memory \
            safetensors, state.json and grads.safetensors (raw student gradients before clipping). Prints one \
            JSON line: step, epoch, the three losses, the total, lr, wd, momentum, teacher_temp.
            """)

        @Option(help: "The config file (flat YAML; see `mugs config show`).")
        var config: String

        @Option(help: "Checkpoint directory or root to start from.")
        var state: String

        @Option(help: "Crops file (.safetensors).")
        var crops: String

        @Option(help: "Prefix of the tensor names in the crops file (e.g. 'crops.' for the step fixtures).")
        var cropsPrefix: String = ""

        @Option(help: "Output directory for the next checkpoint (must not exist, or be empty).")
        var out: String

        @Option(help: "Compute threads (BLAS and loops).")
        var threads: Int = 1

        func validate() throws {
            guard threads >= 1 && threads <= 1024 else { throw ValidationError("--threads must be in 1...1024") }
        }

        func run() throws {
            do {
                BLAS.setThreads(threads)
                let cfg = try ConfigYAML.load(path: config)
                let result = try MugsModel.DebugStep.run(config: cfg, statePath: state, cropsPath: crops,
                                                         cropsPrefix: cropsPrefix, outPath: out, threads: threads)
                for d in result.configDifferences {
                    FileHandle.standardError.write(Data("note: config differs from the checkpoint's: \(d)\n".utf8))
                }
                print(MugsModel.DebugStep.json(result))
            } catch let error as ConfigError {
                throw fail(error.description)
            } catch let error as TrainStateError {
                throw fail(error.description)
            } catch let error as SafeTensorsError {
                throw fail(error.description)
            } catch let error as TrainStepError {
                throw fail(error.description)
            }
        }

        /// Prints the message for a person and returns the failure exit code to throw.
        private func fail(_ message: String) -> ExitCode {
            FileHandle.standardError.write(Data("mugs debug-step: \(message)\n".utf8))
            return ExitCode.failure
        }
    }
}
