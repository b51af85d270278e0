import Foundation
import JSONText
import Testing

@Suite struct JSONStringTests {
    @Test func quotesAndBackslashesAreEscaped() {
        #expect(jsonString("") == #""""#)
        #expect(jsonString("plain text") == #""plain text""#)
        #expect(jsonString(#"say "hi""#) == #""say \"hi\"""#)
        #expect(jsonString(#"C:\dir\"#) == #""C:\\dir\\""#)
        #expect(jsonString("/") == #""/""#)  // the solidus may stay as it is (RFC 8259 §7)
    }

    @Test func controlCharactersAreEscaped() {
        #expect(jsonString("a\nb\rc\td") == #""a\nb\rc\td""#)
        #expect(jsonString("\u{00}") == #""\u0000""#)
        #expect(jsonString("\u{01}\u{08}\u{0C}\u{1F}") == #""\u0001\u0008\u000c\u001f""#)
        // Every character below U+0020 other than \n, \r, \t is \u00XX; U+0020 and above are not escaped.
        for v in UInt32(0) ..< 0x20 where ![0x0A, 0x0D, 0x09].contains(v) {
            let hex = String(v, radix: 16)
            let want = "\"\\u" + String(repeating: "0", count: 4 - hex.count) + hex + "\""
            #expect(jsonString(String(Unicode.Scalar(v)!)) == want, "U+\(hex)")
        }
        #expect(jsonString(" ~\u{7F}") == "\" ~\u{7F}\"")
    }

    @Test func nonASCIIPassesThrough() {
        let s = "naïve ☃ ∑ é 🙂 \u{2028}"
        #expect(jsonString(s) == "\"" + s + "\"")
        #expect(Array(jsonString("é").utf8) == [0x22, 0xC3, 0xA9, 0x22])
    }

    /// Foundation's parser reads every escaped string back to the original, for every scalar class that matters.
    @Test func roundTripsThroughJSONSerialization() throws {
        var samples = ["", "x", #"quote " backslash \ slash /"#, "line\nbreak\r\n\ttab", "naïve ☃ 🙂",
                       "\u{00}\u{01}\u{1F}\u{7F}\u{80}\u{FFFF}"]
        samples.append(String(String.UnicodeScalarView((0 ..< 0x80).compactMap(Unicode.Scalar.init))))
        for s in samples {
            let json = "[" + jsonString(s) + "]"
            let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String]
            #expect(parsed == [s], "\(json)")
        }
    }
}
