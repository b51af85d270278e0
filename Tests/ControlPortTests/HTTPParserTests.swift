import Sampling
import Testing
@testable import ControlPort

@Suite struct HTTPParserTests {
    let parser = HTTPParser()

    @Test func requestFedOneByteAtATimeCompletesExactlyAtTheEnd() {
        let raw = Array("POST /pause?now=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc \r\nContent-Length: 5\r\n\r\nhello".utf8)
        for n in 0 ..< raw.count {
            #expect(parser.parse(Array(raw[0 ..< n])) == .needMore, "prefix of \(n) bytes")
        }
        guard case .request(let r, let consumed) = parser.parse(raw + Array("GET".utf8)) else {
            Issue.record("expected a request"); return
        }
        #expect(consumed == raw.count)
        #expect(r.method == "POST" && r.path == "/pause" && r.query == "now=1")
        #expect(r.header("authorization") == "Bearer abc")
        #expect(r.body == Array("hello".utf8))
    }

    @Test func bareLineFeedsAreAccepted() {
        guard case .request(let r, _) = parser.parse(Array("GET /status HTTP/1.0\nX-A: 1\n\n".utf8)) else {
            Issue.record("expected a request"); return
        }
        #expect(r.path == "/status" && r.headers.count == 1)
    }

    @Test(arguments: [
        ("GET /status HTTP/2.0\r\n\r\n", 505),
        ("get /status HTTP/1.1\r\n\r\n", 400),
        ("GET http://host/status HTTP/1.1\r\n\r\n", 400),
        ("GET /status\r\n\r\n", 400),
        ("GET  /status HTTP/1.1\r\n\r\n", 400),
        ("GET /status HTTP/1.1\r\nNoColon\r\n\r\n", 400),
        ("GET /status HTTP/1.1\r\nA: 1\r\n continued\r\n\r\n", 400),
        ("GET /status HTTP/1.1\r\nBad Name: 1\r\n\r\n", 400),
        ("GET /status HTTP/1.1\r\nA: x\u{01}y\r\n\r\n", 400),
        ("POST /stop HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        ("POST /stop HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        ("POST /stop HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
        ("POST /stop HTTP/1.1\r\nContent-Length: 70000\r\n\r\n", 413),
        ("POST /stop HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
        ("GET /st\u{7F}atus HTTP/1.1\r\n\r\n", 400),
    ])
    func malformedRequestsGetTheRightStatus(raw: String, status: Int) {
        guard case .failure(let e) = parser.parse(Array(raw.utf8)) else {
            Issue.record("expected failure \(status) for \(raw.debugDescription)"); return
        }
        #expect(e.status == status, "\(raw.debugDescription): \(e)")
    }

    @Test func oversizedHeadsAreRefusedWithoutWaitingForever() {
        let longLine = Array(("GET /" + String(repeating: "a", count: 20_000)).utf8)
        #expect(parser.parse(longLine) == .failure(HTTPParseError(status: 414, message: "request head exceeds 16384 bytes")))
        let manyHeaders = Array(("GET / HTTP/1.1\r\n" + String(repeating: "X-Pad: 0123456789\r\n", count: 1000)).utf8)
        guard case .failure(let e) = parser.parse(manyHeaders) else { Issue.record("expected failure"); return }
        #expect(e.status == 431)
        let countOnly = Array(("GET / HTTP/1.1\r\n" + String(repeating: "A: 1\r\n", count: 65) + "\r\n").utf8)
        guard case .failure(let e2) = parser.parse(countOnly) else { Issue.record("expected failure"); return }
        #expect(e2.status == 431)
    }

    /// Random bytes and random mutations of valid requests: the parser must always return one of its three outcomes
    /// and, for a request, a consumed count within the input.
    @Test func fuzzNeverTrapsAndConsumesWithinBounds() {
        var rng = SplitMix64(state: 0xC0FFEE)
        let seeds = ["GET /status HTTP/1.1\r\nHost: a\r\n\r\n",
                     "POST /stop HTTP/1.1\r\nAuthorization: Bearer t\r\nContent-Length: 3\r\n\r\nabc"].map { Array($0.utf8) }
        var requests = 0
        for i in 0 ..< 60_000 {
            var bytes: [UInt8]
            if i % 3 == 0 {
                bytes = (0 ..< Int(rng.next() % 96)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                bytes = seeds[i % 2]
                for _ in 0 ..< 1 + Int(rng.next() % 4) {
                    let pos = Int(rng.next() % UInt64(bytes.count))
                    switch rng.next() % 3 {
                    case 0: bytes[pos] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: bytes.remove(at: pos)
                    default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: pos)
                    }
                }
            }
            switch parser.parse(bytes) {
            case .needMore: break
            case .failure(let e): #expect((400 ..< 600).contains(e.status))
            case .request(_, let consumed):
                requests += 1
                #expect(consumed > 0 && consumed <= bytes.count)
            }
        }
        #expect(requests > 0, "mutations that keep a request valid should occur")
    }
}

