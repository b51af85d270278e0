/// The dashboard's paths: `GET /` (the page), `/dashboard.js|css` (its own code, compiled into the binary),
/// `/assets/dygraph.js|css` (the charting library, from Debian's libjs-dygraphs: `DashboardAssets`), `/history` and
/// `/attention[/<step>/<image>/<map>.png]`. All read-only, so, like `/status`, they need no token; the page's action
/// buttons send the POSTs above, which do.
extension ControlRouter {
    /// Headers of everything the dashboard serves: the browser may load nothing but this origin (CSP; inline style
    /// attributes are allowed because dygraphs writes its legend with them, inline scripts are not), must not guess
    /// types, and must not cache figures that change every step.
    static let dashboardHeaders: [(name: String, value: String)] = [
        ("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            + "img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-store"),
    ]

    func dashboard(_ request: HTTPRequest) -> HTTPResponse {
        guard request.query.isEmpty else {
            return .error(400, "\(request.path) takes no query string (got '?\(request.query)')")
        }
        let h = Self.dashboardHeaders
        switch request.path {
        case "/":
            return HTTPResponse(status: 200, contentType: "text/html; charset=utf-8", text: Dashboard.page,
                                extraHeaders: h)
        case "/dashboard.js":
            return HTTPResponse(status: 200, contentType: "text/javascript; charset=utf-8", text: Dashboard.script,
                                extraHeaders: h)
        case "/dashboard.css":
            return HTTPResponse(status: 200, contentType: "text/css; charset=utf-8", text: Dashboard.style,
                                extraHeaders: h)
        case "/assets/dygraph.js", "/assets/dygraph.css":
            let js = request.path.hasSuffix(".js")
            switch assets.read(js ? .script : .style) {
            case .success(let bytes):
                let type = js ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8"
                return HTTPResponse(status: 200, contentType: type, body: bytes, extraHeaders: h)
            case .failure(let e):
                return .error(404, e.description, extraHeaders: h)
            }
        case "/history":
            return HTTPResponse(status: 200, contentType: "application/json", text: backend.historyJSON() + "\n",
                                extraHeaders: h)
        case "/attention":
            return HTTPResponse(status: 200, contentType: "application/json", text: backend.attentionIndex() + "\n",
                                extraHeaders: h)
        default:
            return attentionImage(request.path, headers: h)
        }
    }

    /// `/attention/<step>/<image>/<map>.png`, map `image` (the crop), `mean` or `head<h>`.
    private func attentionImage(_ path: String, headers h: [(name: String, value: String)]) -> HTTPResponse {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        let usage = "expected /attention/<step>/<image>/<map>.png with map image, mean or head<h> (GET /attention "
            + "lists them)"
        guard parts.count == 5, parts[1] == "attention", let step = Int(parts[2]), step >= 0,
              let image = Int(parts[3]), image >= 0, parts[4].hasSuffix(".png") else {
            return .error(400, "\(path): \(usage)", extraHeaders: h)
        }
        let map = String(parts[4].dropLast(4))
        let known = map == "image" || map == "mean"
            || (map.hasPrefix("head") && map.count > 4 && Int(map.dropFirst(4)).map { $0 >= 0 } == true)
        guard known else { return .error(400, "\(path): no map '\(map)'; \(usage)", extraHeaders: h) }
        guard let png = backend.attentionImage(step: step, image: image, map: map) else {
            return .error(404, "\(path): not rendered (GET /attention says which step and images are)",
                          extraHeaders: h)
        }
        return HTTPResponse(status: 200, contentType: "image/png", body: png, extraHeaders: h)
    }
}
