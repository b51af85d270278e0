import Testing
@testable import Transport

@Suite struct EndpointTests {
    @Test func parsesTheSupportedForms() throws {
        let v4 = try Endpoint("tcp://127.0.0.1:5601")
        #expect(v4.transport == .tcp && v4.address == "127.0.0.1" && v4.port == 5601 && !v4.isIPv6)
        let v6 = try Endpoint("tcp://[::1]:5602")
        #expect(v6.address == "::1" && v6.port == 5602 && v6.isIPv6 && v6.description == "tcp://[::1]:5602")
        let wildcard = try Endpoint("tcp://*:*")
        #expect(wildcard.port == nil)
        #expect(try Endpoint("ipc:///tmp/mugs.sock").address == "/tmp/mugs.sock")
        #expect(try Endpoint("tcp://node-7.cluster:5601").address == "node-7.cluster")
    }

    @Test func rejectsBadEndpointsWithAReason() {
        for bad in ["", "127.0.0.1:5601", "udp://h:1", "tcp://", "tcp://host", "tcp://host:0", "tcp://host:65536",
                    "tcp://host:x", "tcp://::1:5601", "tcp://[::1:5601", "tcp://[::1]5601", "tcp://:5601"] {
            #expect(throws: TransportError.self) { try Endpoint(bad) }
        }
    }
}
