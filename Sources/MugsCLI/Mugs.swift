import ArgumentParser
import MugsModel

/// `mugs`: the user's command-line tool (status, eval, export, embed, data tools, benchmarks).
/// Each subcommand lives in its own file as `Mugs+<Name>.swift`.
@main
struct Mugs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mugs",
        abstract: "Mugs self-supervised ViT pretraining on CPUs: tools for a running or finished job.",
        subcommands: Mugs.subcommandList)
}
