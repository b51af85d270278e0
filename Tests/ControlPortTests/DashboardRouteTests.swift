import Foundation
import Testing
@testable import ControlPort

/// The dashboard's paths on the router: content types, no external URLs, the charting library from its directory (or
/// a 404 that says what to install), `/history` and `/attention` from the backend, 4xx with a message for bad
/// requests, and the read-only paths open without a token while the actions still need it.
@Suite struct DashboardRouteTests {
    let backend = RecordingBackend()

    /// A directory standing in for /usr/share/javascript/dygraphs.
    static func assetsDirectory(js: String?, css: String?) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mugs-assets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if let js { try js.write(toFile: dir + "/dygraph.min.js", atomically: true, encoding: .utf8) }
        if let css { try css.write(toFile: dir + "/dygraph.css", atomically: true, encoding: .utf8) }
        return dir
    }

    func get(_ router: ControlRouter, _ path: String, query: String = "") -> HTTPResponse {
        router.handle(HTTPRequest(method: "GET", path: path, query: query))
    }

    static func text(_ r: HTTPResponse) -> String { String(decoding: r.body, as: UTF8.self) }

    @Test func thePageAndItsOwnAssetsAreServedWithTheirTypesAndNoExternalURL() throws {
        let router = ControlRouter(backend: backend, token: "s3cret")
        let page = get(router, "/"), js = get(router, "/dashboard.js"), css = get(router, "/dashboard.css")
        #expect(page.status == 200 && page.contentType == "text/html; charset=utf-8")
        #expect(js.status == 200 && js.contentType == "text/javascript; charset=utf-8")
        #expect(css.status == 200 && css.contentType == "text/css; charset=utf-8")
        for r in [page, js, css] {
            let body = Self.text(r)
            for scheme in ["http://", "https://", "url("] {
                #expect(!body.contains(scheme), "'\(scheme)' in \(r.contentType)")
            }
            let csp = try #require(r.extraHeaders.first { $0.name == "Content-Security-Policy" }?.value)
            #expect(csp.hasPrefix("default-src 'self'") && !csp.contains("http"), "\(csp)")
        }
        // Every asset the page references is a path on this origin (not protocol-relative).
        let html = Self.text(page)
        let references = try Regex(#"(?:src|href)="([^"]*)""#)
        let found = html.matches(of: references).map { String($0.output[1].substring ?? "") }
        #expect(Set(found) == ["/assets/dygraph.css", "/dashboard.css", "/assets/dygraph.js", "/dashboard.js"],
                "\(found)")
        #expect(found.allSatisfy { $0.hasPrefix("/") && !$0.hasPrefix("//") })
        // What the tests and the docs name: one element per chart and figure, the four action buttons.
        for id in ["chart-loss", "chart-lr", "chart-momentum", "chart-throughput", "chart-knn", "fig-step", "fig-loss",
                   "fig-eta", "fig-checkpoint", "workers", "marks", "attention"] {
            #expect(html.contains("id=\"\(id)\""), "no element \(id)")
        }
        for action in ControlAction.allCases { #expect(html.contains("data-action=\"\(action.rawValue)\"")) }
        // The script never keeps the token: no storage API, no cookie.
        let script = Self.text(js)
        for keeper in ["localStorage", "sessionStorage", "document.cookie", "indexedDB"] {
            #expect(!script.contains(keeper), "\(keeper) in the script")
        }
        #expect(script.contains("window.prompt(") && script.contains("\"Authorization\": \"Bearer \" + token"))
    }

    @Test func theChartingLibraryComesFromItsDirectoryOrA404SayingWhatToInstall() throws {
        let dir = try Self.assetsDirectory(js: "window.Dygraph = function () {};", css: ".dygraph-legend {}")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let router = ControlRouter(backend: backend, token: "s3cret", assets: DashboardAssets(directory: dir))
        let js = get(router, "/assets/dygraph.js"), css = get(router, "/assets/dygraph.css")
        #expect(js.status == 200 && js.contentType == "text/javascript; charset=utf-8"
                    && Self.text(js) == "window.Dygraph = function () {};")
        #expect(css.status == 200 && css.contentType == "text/css; charset=utf-8"
                    && Self.text(css) == ".dygraph-legend {}")

        let missing = ControlRouter(backend: backend, token: "s3cret",
                                    assets: DashboardAssets(directory: dir + "/nowhere"))
        let r = get(missing, "/assets/dygraph.js")
        #expect(r.status == 404 && r.contentType == "application/json")
        #expect(Self.text(r).contains("apt-get install libjs-dygraphs") && Self.text(r).contains(dir + "/nowhere"),
                "\(Self.text(r))")
        #expect(get(missing, "/").status == 200, "the page itself is served without the library")
    }

    @Test func historyAndAttentionAreTheBackendsAndNeedNoToken() {
        let router = ControlRouter(backend: backend, token: "s3cret")
        let h = get(router, "/history")
        #expect(h.status == 200 && h.contentType == "application/json" && Self.text(h) == "{\"schema_version\":1}\n")
        let a = get(router, "/attention")
        #expect(a.status == 200 && Self.text(a) == "{\"state\":\"ready\",\"step\":40}\n")
        let png = get(router, "/attention/40/1/mean.png")
        #expect(png.status == 200 && png.contentType == "image/png" && png.body == [0x89, 0x50, 0x4E, 0x47])
        #expect(router.handle(HTTPRequest(method: "HEAD", path: "/history")).body.isEmpty)
        #expect(backend.actions.isEmpty)
    }

    @Test func badRequestsToTheNewPathsGet4xxWithAMessage() throws {
        let router = ControlRouter(backend: backend, token: "s3cret")
        let cases: [(HTTPRequest, Int, String)] = [
            (HTTPRequest(method: "POST", path: "/history"), 405, "/history accepts GET"),
            (HTTPRequest(method: "DELETE", path: "/"), 405, "/ accepts GET"),
            (HTTPRequest(method: "PUT", path: "/attention/40/1/mean.png"), 405, "accepts GET"),
            (HTTPRequest(method: "GET", path: "/history", query: "since=3"), 400, "takes no query string"),
            (HTTPRequest(method: "GET", path: "/", query: "x"), 400, "takes no query string"),
            (HTTPRequest(method: "GET", path: "/attention/40/1/mean.jpg"), 400, "expected /attention/<step>"),
            (HTTPRequest(method: "GET", path: "/attention/forty/1/mean.png"), 400, "expected /attention/<step>"),
            (HTTPRequest(method: "GET", path: "/attention/40/-1/mean.png"), 400, "expected /attention/<step>"),
            (HTTPRequest(method: "GET", path: "/attention/40/1/2/mean.png"), 400, "expected /attention/<step>"),
            (HTTPRequest(method: "GET", path: "/attention/40/1/headx.png"), 400, "no map 'headx'"),
            (HTTPRequest(method: "GET", path: "/attention/40/1/../x.png"), 400, "expected /attention/<step>"),
            (HTTPRequest(method: "GET", path: "/attention/41/1/mean.png"), 404, "not rendered"),
            (HTTPRequest(method: "GET", path: "/attention/40/0/head0.png"), 404, "not rendered"),
            (HTTPRequest(method: "GET", path: "/assets/jquery.js"), 404, "no endpoint /assets/jquery.js"),
        ]
        for (request, status, message) in cases {
            let r = router.handle(request)
            #expect(r.status == status && r.contentType == "application/json", "\(request.method) \(request.path)")
            let body = try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: String])
            #expect(body["error"]?.contains(message) == true, "\(request.method) \(request.path): \(body)")
        }
        #expect(backend.actions.isEmpty)
    }
}
