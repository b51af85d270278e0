import ArgumentParser

/// The registered subcommands. Add a new one here and define it in its own file.
extension Mugs {
    static let subcommandList: [ParsableCommand.Type] = [
        Info.self,
        Status.self,
        Control.self,
        Config.self,
        DebugStep.self,
        Bench.self,
        Embed.self,
        DataTools.self,
        Eval.self,
        Export.self,
        Attention.self,
    ]
}
