import MugsData
import MugsModel

/// The last block's self-attention from the [CLS] token to every patch, per head, for one image — what DINO's
/// `visualize_attention.py` shows (`get_last_selfattention(img)[0, :, 0, 1:]`, reshaped to the patch grid) — and
/// its rendering as heat-maps over the image.
///
/// The image goes through the eval transform at `size` (resize the shorter side to ⌊size/0.875⌋, centre crop,
/// normalise); the crop itself (de-normalised) is the picture under the maps. Each head's map is scaled to
/// [0, 1] by its own minimum and maximum (as `plt.imsave` does), upsampled to pixels by repetition (nearest, as
/// DINO's `interpolate(scale_factor=patch_size, mode="nearest")`), coloured with viridis and blended over the
/// crop.
public struct AttentionMaps: Sendable {
    public let heads: Int
    /// Patch grid (rows, columns).
    public let gridH: Int, gridW: Int
    public let patchSize: Int
    /// Attention of [CLS] to patch (y, x) in head h at `maps[(h · gridH + y) · gridW + x]`; each head sums to
    /// 1 − (its [CLS]→[CLS] weight).
    public let maps: [Float]
    /// The eval-transformed crop, RGB bytes.
    public let crop: RGBImage

    /// Runs the backbone on `image` at `size` pixels (a multiple of the patch size).
    public static func compute(image: RGBImage, embedder: BackboneEmbedder, size: Int,
                               pool: ComputePool) throws(EvalError) -> AttentionMaps {
        let vit = embedder.vit, P = vit.config.patchSize, H = vit.config.heads
        guard size >= P, size % P == 0 else {
            throw EvalError(.configuration, "image size \(size) must be a positive multiple of the patch size \(P)")
        }
        guard image.width >= 1, image.height >= 1 else { throw EvalError(.input, "the image is empty") }
        let transform = EvalTransform(size: size)
        var input = [Float](repeating: 0, count: 3 * size * size)
        input.withUnsafeMutableBufferPointer { transform.apply(image, to: $0.baseAddress!) }
        let a: ViTActivations
        do { a = try vit.makeActivations(B: 1, Hi: size, Wi: size, pool: pool) } catch {
            throw EvalError(.configuration, "image \(size)×\(size): \(error)")
        }
        a.disableDropPath()
        input.withUnsafeBufferPointer { vit.forward(images: $0.baseAddress!, params: embedder.params, acts: a, pool: pool) }
        let T = a.T, g = size / P
        let probs = a.attentionProbabilities(block: a.blockCount - 1)    // (1, H, T, T)
        var maps = [Float](repeating: 0, count: H * g * g)
        for h in 0 ..< H {
            let row = probs + h * T * T                                     // query token 0 of head h
            for p in 0 ..< g * g { maps[h * g * g + p] = row[1 + p] }
        }
        // The crop: normalised values back to bytes (x·std + mean)·255.
        let n = transform.normalization, crop = RGBImage(width: size, height: size)
        let mean = [n.mean.0, n.mean.1, n.mean.2], std = [n.std.0, n.std.1, n.std.2]
        for c in 0 ..< 3 {
            for i in 0 ..< size * size {
                let v = (input[c * size * size + i] * std[c] + mean[c]) * 255
                crop.pixels[i * 3 + c] = UInt8(min(max(v.rounded(), 0), 255))
            }
        }
        return AttentionMaps(heads: H, gridH: g, gridW: g, patchSize: P, maps: maps, crop: crop)
    }

    /// One head's map (or the mean over heads when `head` is nil) as a heat-map over the crop, `zoom` times the
    /// crop's size; `alpha` is the heat-map's opacity.
    public func render(head: Int?, zoom: Int = 1, alpha: Float = 0.6) -> RGBImage {
        precondition(zoom >= 1 && (head == nil || (0 ..< heads).contains(head!)), "bad head or zoom")
        let cells = gridH * gridW
        var map = [Float](repeating: 0, count: cells)
        if let head {
            for p in 0 ..< cells { map[p] = maps[head * cells + p] }
        } else {
            for h in 0 ..< heads { for p in 0 ..< cells { map[p] += maps[h * cells + p] / Float(heads) } }
        }
        let lo = map.min() ?? 0, hi = map.max() ?? 1
        let span = hi > lo ? hi - lo : 1
        let W = crop.width * zoom, Hgt = crop.height * zoom
        let out = RGBImage(width: W, height: Hgt)
        for y in 0 ..< Hgt {
            let sy = y / zoom, gy = min(sy / patchSize, gridH - 1)
            for x in 0 ..< W {
                let sx = x / zoom, gx = min(sx / patchSize, gridW - 1)
                let (r, g, b) = Colormap.color((map[gy * gridW + gx] - lo) / span)
                let src = crop.pixels + (sy * crop.width + sx) * 3, dst = out.pixels + (y * W + x) * 3
                dst[0] = UInt8(min(max((alpha * r + (1 - alpha) * Float(src[0])).rounded(), 0), 255))
                dst[1] = UInt8(min(max((alpha * g + (1 - alpha) * Float(src[1])).rounded(), 0), 255))
                dst[2] = UInt8(min(max((alpha * b + (1 - alpha) * Float(src[2])).rounded(), 0), 255))
            }
        }
        return out
    }

    /// The crop alone, `zoom` times its size (nearest).
    public func renderCrop(zoom: Int = 1) -> RGBImage {
        let W = crop.width * zoom, Hgt = crop.height * zoom, out = RGBImage(width: W, height: Hgt)
        for y in 0 ..< Hgt {
            for x in 0 ..< W {
                let src = crop.pixels + ((y / zoom) * crop.width + x / zoom) * 3, dst = out.pixels + (y * W + x) * 3
                dst[0] = src[0]; dst[1] = src[1]; dst[2] = src[2]
            }
        }
        return out
    }
}
