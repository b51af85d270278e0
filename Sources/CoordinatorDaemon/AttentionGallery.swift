import Foundation
import JobCommon
import JSONText
import MugsData
import MugsEval
import MugsModel
#if canImport(Glibc)
import Glibc
#endif

/// The dashboard's attention maps: for the latest checkpoint, the last block's [CLS] attention of the teacher on a few
/// fixed images, drawn as `mugs attention` draws them (`AttentionMaps`, `PNGWriter`) and kept in memory as PNGs until
/// a newer checkpoint is rendered.
///
/// Off the training path: the coordinator's loop only tells it that a checkpoint was written (a lock and two
/// assignments); rendering runs on this class's own thread at the lowest CPU priority, with one thread for matrix
/// products, and only when a dashboard asks (`indexJSON`) — a job nobody watches renders nothing. The images are the
/// `count` images evenly spaced over `spec` (`DatasetSubset`), so they are the same for every checkpoint.
public final class AttentionGallery: @unchecked Sendable {
    struct Image {
        var index: Int
        var name: String
        /// Map name → PNG, and the names in display order.
        var pngs: [String: [UInt8]]
        var order: [String]
    }

    struct Rendered {
        var step: Int
        var path: String
        var heads: Int
        var pixels: Int
        var seconds: Double
        var images: [Image]
    }

    public let spec: String
    public let count: Int
    private let log: @Sendable (String) -> Void
    private let cond = NSCondition()
    private var latest: (step: Int, path: String)?
    private var rendered: Rendered?
    private var rendering: Int?
    private var failure: (step: Int, message: String)?
    private var stopping = false
    private var dataset: ImageDataset?
    private var thread: Thread?

    /// - Parameters: spec: the images' dataset; count: how many; log: where a failed or finished rendering is told.
    public init(spec: String, count: Int = 4, log: @escaping @Sendable (String) -> Void) {
        self.spec = spec
        self.count = count
        self.log = log
        let t = Thread { [unowned self] in self.work() }
        t.name = "mugs-attention"
        thread = t
        t.start()
    }

    /// The coordinator wrote (or resumed from) the checkpoint of `step` at `path`.
    public func checkpointWritten(step: Int, path: String) {
        cond.lock(); defer { cond.unlock() }
        if let l = latest, l.step > step { return }
        latest = (step, path)
    }

    /// Stops the thread after the rendering under way.
    public func stop() {
        cond.lock()
        stopping = true
        cond.broadcast()
        cond.unlock()
    }

    /// `GET /attention`: `state` none (no checkpoint yet) | rendering | ready | failed, the `step` and `checkpoint` of
    /// the maps served, the latest checkpoint's step, and per image its `index`, `name` and `maps` (URL names). A
    /// latest checkpoint that is not rendered yet starts its rendering.
    public func indexJSON() -> String {
        cond.lock(); defer { cond.unlock() }
        let latestStep = latest?.step
        let stale = latestStep != nil && latestStep != rendered?.step && failure?.step != latestStep
        if stale && rendering == nil {
            rendering = latestStep
            cond.broadcast()
        }
        var fields: [String] = []
        let state: String
        var message: String
        if let r = rendered {
            state = "ready"
            message = String(format: "step %d, %d heads, %d px (rendered in %.1f s)", r.step, r.heads, r.pixels,
                             r.seconds)
            if rendering != nil { message += "; rendering step \(latestStep!)" }
        } else if rendering != nil {
            state = "rendering"
            message = "rendering the checkpoint of step \(latestStep!)"
        } else if let f = failure {
            state = "failed"
            message = "the checkpoint of step \(f.step) could not be rendered: \(f.message)"
        } else {
            state = "none"
            message = "no checkpoint yet"
        }
        if let f = failure, rendered != nil, f.step == latestStep { message += "; step \(f.step) failed: \(f.message)" }
        fields.append("\"state\":\(jsonString(state))")
        fields.append("\"message\":\(jsonString(message))")
        fields.append("\"images_spec\":\(jsonString(spec))")
        fields.append("\"latest_checkpoint_step\":\(latestStep.map(String.init) ?? "null")")
        fields.append("\"step\":\(rendered.map { String($0.step) } ?? "null")")
        fields.append("\"checkpoint\":\(rendered.map { jsonString($0.path) } ?? "null")")
        fields.append("\"heads\":\(rendered.map { String($0.heads) } ?? "null")")
        let images = (rendered?.images ?? []).map { i in
            let maps = i.order.map(jsonString).joined(separator: ",")
            return "{\"index\":\(i.index),\"name\":\(jsonString(i.name)),\"maps\":[\(maps)]}"
        }
        fields.append("\"images\":[\(images.joined(separator: ","))]")
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// One PNG of the rendered step, nil if that step, image or map is not what is rendered.
    public func png(step: Int, image: Int, map: String) -> [UInt8]? {
        cond.lock(); defer { cond.unlock() }
        guard let r = rendered, r.step == step, r.images.indices.contains(image) else { return nil }
        return r.images[image].pngs[map]
    }

    private func work() {
        // Below the training loop and the control port: a rendering takes what CPU is left. (On Linux the nice value
        // is per thread, and `who` 0 is the calling thread.)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
        cond.lock()
        while true {
            while !stopping && (rendering == nil || latest == nil) { cond.wait() }
            if stopping { break }
            let (step, path) = latest!
            cond.unlock()
            let t0 = ProcessLifecycle.now()
            let result = Result(catching: { try self.render(step: step, path: path) })
            let seconds = ProcessLifecycle.now() - t0
            cond.lock()
            switch result {
            case .success(var r):
                r.seconds = seconds
                rendered = r
                failure = nil
                log(String(format: "attention maps of the checkpoint at step %d rendered for the dashboard (%d images, "
                           + "%.1f s)", step, r.images.count, seconds))
            case .failure(let e):
                failure = (step, "\(e)")
                log("attention maps of the checkpoint at step \(step) could not be rendered: \(e)")
            }
            rendering = nil
        }
        cond.unlock()
    }

    private func render(step: Int, path: String) throws -> Rendered {
        if dataset == nil {
            let d = try DatasetSpec.open(spec)
            guard d.count > 0 else { throw JobError("--dashboard-images \(spec)", "holds no images") }
            dataset = DatasetSubset.evenlySpaced(d, count: count)
        }
        let images = dataset!
        // The coordinator runs no other matrix product: one thread keeps the rendering off the cores training uses.
        BLAS.setThreads(1)
        let pool = ComputePool(threads: 1)
        let source = try BackboneSource.open(path)
        let embedder = try source.makeEmbedder()
        let size = embedder.imageSize
        let zoom = max(1, (112 + size - 1) / size) // at least the 112 px the page shows
        var out: [Image] = []
        var buffer: [UInt8] = []
        var heads = 0
        for i in 0 ..< images.count {
            let picture = RGBImage()
            try images.load(i, into: picture, minimumArea: 0, buffer: &buffer)
            let maps = try AttentionMaps.compute(image: picture, embedder: embedder, size: size, pool: pool)
            heads = maps.heads
            var pngs = ["image": try PNGWriter.encode(maps.renderCrop(zoom: zoom)),
                        "mean": try PNGWriter.encode(maps.render(head: nil, zoom: zoom))]
            var order = ["image", "mean"]
            for h in 0 ..< maps.heads {
                pngs["head\(h)"] = try PNGWriter.encode(maps.render(head: h, zoom: zoom))
                order.append("head\(h)")
            }
            let label = images.label(i)
            let className = images.classNames.indices.contains(label) ? " (\(images.classNames[label]))" : ""
            out.append(Image(index: i, name: images.name(i) + className, pngs: pngs, order: order))
        }
        return Rendered(step: step, path: path, heads: heads, pixels: size * zoom, seconds: 0, images: out)
    }
}
