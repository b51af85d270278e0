import Foundation
import JobCommon
import Transport

/// Where a worker's ring data port is bound and what address it advertises to its peers.
///
/// Defaults that work on a real cluster: the advertised address is the one this machine's route to the coordinator
/// leaves from — the local address of the interface its coordinator connection uses (a UDP `connect` + `getsockname`:
/// the kernel's source-address choice for that destination, without sending a packet) — and the port is bound on all
/// interfaces, so peers reach it at any of this machine's addresses. A loopback coordinator means a one-machine job:
/// the port is bound on the loopback address only. `--data-host` overrides what is advertised and `--data-bind` what
/// is bound (an address or an interface name); host names given to either are resolved here, because a ZeroMQ bind
/// takes only numeric addresses and interface names (`tcp://nodeB:5601` fails with ENODEV).
public struct DataAddress: Sendable, Equatable {
    /// The endpoint peers connect to, e.g. `tcp://10.0.0.7:5601`.
    public var advertised: String
    /// The endpoint the data port binds, e.g. `tcp://0.0.0.0:5601`.
    public var bound: String
    /// Where the advertised address came from, for the log line.
    public var source: String
    /// A likely mistake worth a warning (e.g. a `--data-host` name that resolves to a loopback address), or nil.
    public var warning: String?

    /// Works out both endpoints from the worker's options. Throws when the coordinator's or a given host cannot be
    /// resolved or has no route (the caller retries: at boot the network may not be up yet).
    public static func plan(coordinator: String, dataHost: String?, dataBind: String?, port: Int) throws(JobError)
        -> DataAddress {
        let coordinatorHost = try Self.coordinatorHost(coordinator)
        let source: String
        var warning: String?
        let advertisedIP: String
        if let dataHost {
            advertisedIP = try resolve(dataHost, option: "--data-host")
            source = advertisedIP == dataHost ? "--data-host" : "--data-host \(dataHost)"
            if isLoopback(advertisedIP), let c = coordinatorHost, !isLoopback((try? resolve(c, option: "")) ?? c) {
                warning = "--data-host \(dataHost) is the loopback address \(advertisedIP): workers on other machines "
                    + "cannot reach it (omit --data-host to advertise the address that routes to the coordinator)"
            }
        } else if let c = coordinatorHost {
            advertisedIP = try localAddress(towards: c)
            source = "the address of the interface that routes to the coordinator \(c)"
        } else {
            advertisedIP = "127.0.0.1"
            source = "the coordinator is on this machine (\(coordinator))"
        }
        let bindIP: String
        if let dataBind {
            // An interface name (eth0) is what a ZeroMQ bind takes besides a numeric address; the rest is resolved.
            if dataBind == "*" {
                bindIP = "0.0.0.0"
            } else if HostAddress.isInterface(dataBind) {
                bindIP = dataBind
            } else {
                bindIP = try resolve(dataBind, option: "--data-bind")
            }
        } else if isLoopback(advertisedIP) {
            bindIP = advertisedIP
        } else {
            bindIP = advertisedIP.contains(":") ? "::" : "0.0.0.0"
        }
        return DataAddress(advertised: endpoint(advertisedIP, port), bound: endpoint(bindIP, port), source: source,
                           warning: warning)
    }

    /// The log line: what is advertised and bound, and why.
    public var summary: String {
        let all = bound.hasPrefix("tcp://0.0.0.0:") || bound.hasPrefix("tcp://[::]:")
        return "data port: peers connect to \(advertised) (\(source)); bound on \(bound)"
            + (all ? " (all interfaces)" : "")
    }

    /// `tcp://host:port` with IPv6 literals in brackets.
    static func endpoint(_ ip: String, _ port: Int) -> String {
        ip.contains(":") ? "tcp://[\(ip)]:\(port)" : "tcp://\(ip):\(port)"
    }

    /// The host of a `tcp://HOST:PORT` coordinator endpoint (`Endpoint`'s parse); nil for `ipc://` (this machine).
    static func coordinatorHost(_ coordinator: String) throws(JobError) -> String? {
        let e: Endpoint
        do { e = try Endpoint(coordinator) } catch {
            throw JobError("--coordinator \(coordinator)", "\(error)", hint: "e.g. tcp://head:5555")
        }
        return e.transport == .tcp ? e.address : nil
    }

    static func isLoopback(_ ip: String) -> Bool { ip.hasPrefix("127.") || ip == "::1" }

    /// The numeric address of a host name (literals come back unchanged); IPv4 first when a name has both.
    public static func resolve(_ host: String, option: String) throws(JobError) -> String {
        let addresses = try lookup(host, option: option)
        return addresses.first { !$0.contains(":") } ?? addresses[0]
    }

    private static func lookup(_ host: String, option: String) throws(JobError) -> [String] {
        switch HostAddress.lookup(host) {
        case let .success(addresses): return addresses
        case let .failure(f):
            throw JobError(option.isEmpty ? host : "\(option) \(host)", f.description,
                           hint: "give a numeric address, or fix the name's DNS or /etc/hosts entry")
        }
    }

    /// The source address this machine's routing table picks for packets to `host` (no packet is sent).
    public static func localAddress(towards host: String) throws(JobError) -> String {
        switch HostAddress.localAddress(towards: try lookup(host, option: "--coordinator")) {
        case let .success(address): return address
        case let .failure(f):
            throw JobError("--coordinator \(host)", f.description,
                           hint: "is the network up? give --data-host ADDRESS to advertise an address yourself")
        }
    }
}
