import ArgumentParser

extension Mugs {
    /// `mugs bench …`: performance measurements of mugs' compute and transport paths.
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Benchmarks (timings with units, printed beside the configuration measured).",
            subcommands: [BenchBackbone.self, BenchAllreduce.self, BenchAllreduceRank.self, BenchStep.self, BenchData.self,
                          BenchGemm.self])
    }
}
