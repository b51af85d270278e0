import Foundation
import MugsData
import MugsEval
import MugsModel
import Testing

@Suite struct AttentionTests {
    let pool = ComputePool(threads: 2)

    func embedder() throws -> BackboneEmbedder {
        try BackboneSource.open(EvalFixtures.path("import_mugs.safetensors")).makeEmbedder()
    }

    /// A 40×36 picture with a bright square, as an RGBImage.
    func picture() -> RGBImage {
        let w = 40, h = 36
        var bytes = [UInt8](repeating: 30, count: w * h * 3)
        for y in 10 ..< 22 { for x in 14 ..< 30 { for c in 0 ..< 3 { bytes[(y * w + x) * 3 + c] = UInt8(200 + 20 * c) } } }
        return RGBImage(width: w, height: h, bytes: bytes)
    }

    /// The maps are the [CLS] row of the last block's softmax: per head, positive, summing to less than 1 (the rest
    /// is [CLS]→[CLS]); the grid is size/patch on each side.
    @Test func mapsAreTheLastBlocksClsAttention() throws {
        let maps = try AttentionMaps.compute(image: picture(), embedder: embedder(), size: 32, pool: pool)
        #expect(maps.heads == 3 && maps.gridH == 8 && maps.gridW == 8 && maps.maps.count == 3 * 64)
        for h in 0 ..< 3 {
            let row = maps.maps[h * 64 ..< (h + 1) * 64]
            let sum = row.reduce(0, +)
            #expect(row.allSatisfy { $0 > 0 } && sum > 0 && sum < 1, "head \(h) sums to \(sum)")
        }
        #expect(maps.crop.width == 32 && maps.crop.height == 32)
        // Other image sizes change the grid (the position embedding is interpolated).
        let big = try AttentionMaps.compute(image: picture(), embedder: embedder(), size: 48, pool: pool)
        #expect(big.gridH == 12 && big.maps.count == 3 * 144)
        #expect(throws: EvalError.self) {
            try AttentionMaps.compute(image: picture(), embedder: embedder(), size: 30, pool: pool)
        }
    }

    /// Rendered heat-maps written as PNG decode (through libpng) to the right size and exactly the rendered pixels.
    @Test func pngHeatMapsDecodeToTheRightSize() throws {
        let maps = try AttentionMaps.compute(image: picture(), embedder: embedder(), size: 32, pool: pool)
        let dir = EvalFixtures.temporaryDirectory("attention")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (zoom, head) in [(1, 0), (7, 2), (3, nil)] as [(Int, Int?)] {
            let image = maps.render(head: head, zoom: zoom)
            #expect(image.width == 32 * zoom && image.height == 32 * zoom)
            let path = (dir as NSString).appendingPathComponent("h.png")
            try PNGWriter.write(image, to: path)
            let back = RGBImage()
            var buffer: [UInt8] = []
            try ImageDecoder.decodeFile(path, into: back, buffer: &buffer)
            #expect(back.width == 32 * zoom && back.height == 32 * zoom)
            #expect(back.bytes == image.bytes, "PNG is lossless: decoded pixels must equal the rendered ones")
        }
        // The colour follows the map: the most attended patch of head 0 gets viridis' top (yellow) blended in.
        let image = maps.render(head: 0, zoom: 1, alpha: 1)
        let best = maps.maps[0 ..< 64].indices.max { maps.maps[$0] < maps.maps[$1] }!
        let (y, x) = (best / 8 * 4, best % 8 * 4)
        let px = image.pixels + (y * 32 + x) * 3
        #expect(px[0] == 253 && px[1] == 231 && px[2] == 37)
    }
}
