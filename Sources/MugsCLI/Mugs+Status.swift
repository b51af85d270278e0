import ArgumentParser
import ControlPort
import Foundation

extension Mugs {
    /// `mugs status`: the coordinator's `GET /status` as a table (or raw JSON).
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a running job's status from its control port.")

        @Option(help: "The coordinator's control port URL.")
        var control = "http://127.0.0.1:8750"

        @Flag(help: "Print the raw JSON instead of a table.")
        var json = false

        @Flag(help: "Print one progress line (state, step, loss, img/s, workers, ETA) instead of a table.")
        var progress = false

        @Option(help: "Seconds to wait for the coordinator.")
        var timeout = 5.0

        func validate() throws {
            guard !(json && progress) else { throw ValidationError("--json and --progress exclude each other") }
        }

        func run() throws {
            let (host, port) = try ControlClient.parseURL(control)
            let reply = try ControlClient.request(host: host, port: port, method: "GET", path: "/status", timeout: timeout)
            guard reply.status == 200 else {
                throw CLIError("control port answered HTTP \(reply.status): \(reply.text)")
            }
            if json {
                print(reply.text, terminator: reply.text.hasSuffix("\n") ? "" : "\n")
                return
            }
            do {
                let report = try StatusReport.decode(Data(reply.body))
                print(progress ? report.progressLine() : report.table(), terminator: progress ? "\n" : "")
            } catch {
                throw CLIError("the control port at \(control) sent a status this mugs cannot read " +
                                      "(different versions?): \(error)")
            }
        }
    }

    /// `mugs control ACTION`: checkpoint / pause / resume / stop a running job (needs the job token).
    struct Control: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask a running job to checkpoint, pause, resume or stop.",
            discussion: "The job token is read from --token-file, or from the MUGS_TOKEN environment variable.")

        @Argument(help: "One of: \(ControlAction.allCases.map(\.rawValue).joined(separator: ", ")).")
        var action: String

        @Option(help: "The coordinator's control port URL.")
        var control = "http://127.0.0.1:8750"

        @Option(help: "File holding the job token (as given to mugs-coordinator --token-file).")
        var tokenFile: String?

        func validate() throws {
            guard ControlAction(rawValue: action) != nil else {
                throw ValidationError("unknown action '\(action)'; use one of " +
                                      ControlAction.allCases.map(\.rawValue).joined(separator: ", "))
            }
        }

        func run() throws {
            let token: String
            if let f = tokenFile {
                guard let t = try? String(contentsOfFile: f, encoding: .utf8) else {
                    throw CLIError("cannot read the token file \(f)")
                }
                token = t.trimmingCharacters(in: .whitespacesAndNewlines)
            } else if let t = ProcessInfo.processInfo.environment["MUGS_TOKEN"] {
                token = t
            } else {
                throw CLIError("no job token: pass --token-file FILE or set MUGS_TOKEN")
            }
            let (host, port) = try ControlClient.parseURL(control)
            let reply = try ControlClient.request(host: host, port: port, method: "POST", path: "/" + action,
                                                  headers: [("Authorization", "Bearer \(token)")])
            print(reply.text, terminator: reply.text.hasSuffix("\n") ? "" : "\n")
            if reply.status >= 400 { throw ExitCode(1) }
        }
    }
}
