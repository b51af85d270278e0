import Foundation

/// The job token: a shared secret that workers need to join and control clients need for mutating calls. Read from
/// a file (`--token-file`, first line, surrounding whitespace trimmed) or the `MUGS_TOKEN` environment variable.
public enum JobToken {
    public static let environmentVariable = "MUGS_TOKEN"

    public static func read(file: String?) throws -> String {
        let token: String
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw JobError("token file \(file)", "cannot be read", hint: "create it, e.g. `openssl rand -hex 16 > \(file)`")
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let env = ProcessInfo.processInfo.environment[environmentVariable] {
            token = env.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            throw JobError("job token", "missing", hint: "pass --token-file FILE or set \(environmentVariable)")
        }
        guard !token.isEmpty, !token.contains("\n") else {
            throw JobError("job token", "is empty or spans several lines", hint: "put one line of text in the token file")
        }
        return token
    }
}
