/// A runtime failure of a `mugs` subcommand, printed as `Error: <message>` without the usage text
/// (ArgumentParser's `ValidationError` is for bad arguments and prints usage).
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
