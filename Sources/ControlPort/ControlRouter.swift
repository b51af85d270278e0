import JSONText

/// A mutating control call. Each requires the job token.
public enum ControlAction: String, CaseIterable, Sendable {
    case checkpoint, pause, resume, stop
}

/// What the daemon behind the control port provides. Calls arrive on the control thread; implementations return
/// snapshots and enqueue actions, they never block on training.
public protocol ControlBackend: Sendable {
    func status() -> StatusReport
    /// Prometheus text exposition (format 0.0.4).
    func metrics() -> String
    /// Accepts or refuses an action; the message is shown to the caller.
    func perform(_ action: ControlAction) -> (accepted: Bool, message: String)
    /// The run's history as served at `GET /history` (`RunHistory.servedJSON`, docs/OPERATIONS.md).
    func historyJSON() -> String
    /// What `GET /attention` serves: the attention maps of the latest checkpoint, or why there are none yet. Asking
    /// may start rendering them (off the training thread).
    func attentionIndex() -> String
    /// One attention PNG (`GET /attention/<step>/<image>/<map>.png`), nil if not rendered.
    func attentionImage(step: Int, image: Int, map: String) -> [UInt8]?
}

/// Routes control-port requests: the read-only `GET /` (the dashboard) and its assets, `/status`, `/metrics`,
/// `/history`, `/attention[/…]`; and `POST /checkpoint|/pause|/resume|/stop` (with `Authorization: Bearer <token>`).
/// Everything else gets a 4xx with a message.
public struct ControlRouter: Sendable {
    public let backend: ControlBackend
    /// Where the dashboard's charting library is read from (`DashboardAssets`).
    public let assets: DashboardAssets
    private let token: [UInt8]

    public init(backend: ControlBackend, token: String, assets: DashboardAssets = .system) {
        precondition(!token.isEmpty, "the job token must not be empty")
        self.backend = backend
        self.assets = assets
        self.token = Array(token.utf8)
    }

    /// Paths that only read, each answering GET and HEAD.
    static let readOnlyPaths: Set = ["/", "/status", "/metrics", "/history", "/attention", "/dashboard.js",
                                     "/dashboard.css", "/assets/dygraph.js", "/assets/dygraph.css"]

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        if Self.readOnlyPaths.contains(request.path) || request.path.hasPrefix("/attention/") {
            guard request.method == "GET" || request.method == "HEAD" else {
                return .error(405, "\(request.path) accepts GET", extraHeaders: [("Allow", "GET, HEAD")])
            }
            var response: HTTPResponse
            switch request.path {
            case "/status":
                response = HTTPResponse(status: 200, contentType: "application/json", text: backend.status().json() + "\n")
            case "/metrics":
                response = HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                                        text: backend.metrics())
            default:
                response = dashboard(request)
            }
            if request.method == "HEAD" { response.body = [] }
            return response
        }
        guard let action = ControlAction(rawValue: String(request.path.dropFirst())), request.path.hasPrefix("/") else {
            return .error(404, "no endpoint \(request.path); try GET /")
        }
        guard request.method == "POST" else {
            return .error(405, "\(request.path) accepts POST", extraHeaders: [("Allow", "POST")])
        }
        guard let auth = request.header("Authorization") else {
            return .error(401, "\(request.path) needs the job token: Authorization: Bearer <token>",
                          extraHeaders: [("WWW-Authenticate", "Bearer realm=\"mugs\"")])
        }
        let prefix = "Bearer "
        guard auth.hasPrefix(prefix), Self.constantTimeEqual(Array(auth.utf8.dropFirst(prefix.utf8.count)), token) else {
            return .error(403, "wrong job token")
        }
        let (accepted, message) = backend.perform(action)
        let body = "{\"action\":\(jsonString(action.rawValue)),\"accepted\":\(accepted),\"message\":\(jsonString(message))}\n"
        return HTTPResponse(status: accepted ? 202 : 409, contentType: "application/json", text: body)
    }

    /// Compares without an early exit, so response time does not reveal how much of a guessed token was right.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0 ..< max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }
}
