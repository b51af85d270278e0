import ArgumentParser
import CBLAS
import Foundation

extension Mugs {
    /// Prints what this build computes with: OpenBLAS's configuration and the environment that changes it.
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the build's BLAS configuration.")

        func run() throws {
            let config = String(cString: openblas_get_config())
            let coretype = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)"
            print("openblas: \(config)")
            print("openblas core: \(String(cString: openblas_get_corename())), threads \(openblas_get_num_threads())")
            print("OPENBLAS_CORETYPE=\(coretype)")
            print("cores: \(ProcessInfo.processInfo.activeProcessorCount)")
        }
    }
}
