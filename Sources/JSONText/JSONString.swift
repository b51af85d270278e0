/// `s` as a JSON string literal (RFC 8259 §7), quotes included: `"` and `\` are escaped, line feed, carriage return
/// and tab as `\n`, `\r`, `\t`, every other control character below U+0020 as `\u00XX` (lower-case hex); all
/// other characters, non-ASCII included, pass through unchanged as UTF-8.
///
///     jsonString("a \"b\"\n")   // "\"a \\\"b\\\"\\n\""
///
/// The one escaper of the package: the control port's JSON bodies, the job log and safetensors headers use it.
public func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where u.value < 0x20:
            let hex = String(u.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}
