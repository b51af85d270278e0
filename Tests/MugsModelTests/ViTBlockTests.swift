import Foundation
import Testing
@testable import MugsModel

/// The transformer block and the whole backbone against finite differences, plus drop-path determinism.
@Suite struct ViTBlockTests {
    let pool = ComputePool(threads: 2)

    /// A small config whose native grid is 3×3 (patch 2, image 6).
    static let tiny = ViTConfig(embedDim: 8, depth: 2, heads: 2, patchSize: 2, imageSize: 6, relationBlocks: 1,
                                dropPathRate: 0.3)

    static func randomParams(_ vit: VisionTransformer, seed: UInt64, scale: Float = 0.5) -> ParameterBuffer {
        let params = ParameterBuffer(layout: vit.layout)
        var r = TestRandom(seed)
        for spec in vit.layout.specs {
            let values = r.array(spec.count, scale: scale)
            let view = params[spec.name]
            let isNormWeight = spec.name.hasSuffix("norm1.weight") || spec.name.hasSuffix("norm2.weight")
                || spec.name == "norm.weight"
            for i in 0 ..< spec.count { view[i] = isNormWeight ? 1 + values[i] * 0.5 : values[i] }
        }
        return params
    }

    @Test func blockBackwardMatchesFiniteDifferencesWithDropPath() throws {
        let vit = try VisionTransformer(config: Self.tiny)
        let block = vit.relationBlocks[0]   // the relation block: any token set, here B = 3, T = 9
        let B = 3, T = 9, C = 8
        let params = Self.randomParams(vit, seed: 20)
        var r = TestRandom(21)
        let x = r.array(B * T * C), wOut = r.array(B * T * C)
        let attnScale: [Float] = [1.25, 0, 1.25], mlpScale: [Float] = [0, 1.25, 1.25]
        let acts = block.makeActivations(B: B, T: T)
        func forward(_ x: [Float], _ p: ParameterBuffer) -> [Float] {
            block.forward(inp: x, params: p.base, acts: acts, attnScale: attnScale, mlpScale: mlpScale, pool: pool)
            return Array(acts.output.buffer)
        }
        _ = forward(x, params)
        let grads = ParameterBuffer(layout: vit.layout)
        var dx = [Float](repeating: 0, count: x.count)
        block.backward(dInp: &dx, dOut: wOut, inp: x, params: params.base, grads: grads.base, acts: acts,
                       scratch: block.makeScratch(B: B, T: T, pool: pool), attnScale: attnScale, mlpScale: mlpScale,
                       pool: pool)
        let ex = finiteDifferenceError(x, analytic: dx, samples: 60) { dot(forward($0, params), wOut) }
        print("block fd rel err dInp \(ex)")
        #expect(ex < Tol.finiteDifference)
        for spec in vit.layout.specs where spec.name.hasPrefix("relation_blocks.0.") {
            let e = finiteDifferenceError(Array(params[spec.name]), analytic: Array(grads[spec.name]), samples: 12) {
                values in
                let p = ParameterBuffer(layout: vit.layout); p.copy(from: params)
                for i in values.indices { p[spec.name][i] = values[i] }
                return dot(forward(x, p), wOut)
            }
            print("block fd rel err \(spec.name) \(e)")
            #expect(e < Tol.finiteDifference, "\(spec.name)")
        }
    }

    @Test func backboneBackwardMatchesFiniteDifferencesWithInterpolation() throws {
        let vit = try VisionTransformer(config: Self.tiny)
        let B = 2, Hi = 8, Wi = 4   // grid 4×2 from the native 3×3: interpolation on both axes
        let params = Self.randomParams(vit, seed: 30)
        let acts = try vit.makeActivations(B: B, Hi: Hi, Wi: Wi, pool: pool)
        try acts.setDropPath(keepMask: [1, 1, 0, 1], config: vit.config)   // block 1 drops sample 0
        var r = TestRandom(31)
        let images = r.array(B * 3 * Hi * Wi), wOut = r.array(B * acts.T * 8), wPre = r.array(B * acts.T * 8)
        func loss(_ images: [Float], _ p: ParameterBuffer) -> Double {
            vit.forward(images: images, params: p, acts: acts, pool: pool)
            return dot(Array(acts.output.buffer), wOut) + dot(Array(UnsafeBufferPointer(start: acts.preNorm,
                                                                                        count: wPre.count)), wPre)
        }
        _ = loss(images, params)
        let grads = ParameterBuffer(layout: vit.layout)
        var dImages = [Float](repeating: 0, count: images.count)
        vit.backward(dOutput: wOut, dPreNorm: wPre, dImages: &dImages, params: params, grads: grads, acts: acts,
                     pool: pool)
        let ei = finiteDifferenceError(images, analytic: dImages, samples: 50) { loss($0, params) }
        print("vit fd rel err images \(ei)")
        #expect(ei < Tol.finiteDifference)
        for spec in vit.layout.specs where !spec.name.hasPrefix("relation_blocks") {
            let e = finiteDifferenceError(Array(params[spec.name]), analytic: Array(grads[spec.name]), samples: 8) {
                values in
                let p = ParameterBuffer(layout: vit.layout); p.copy(from: params)
                for i in values.indices { p[spec.name][i] = values[i] }
                return loss(images, p)
            }
            #expect(e < Tol.finiteDifference, "\(spec.name): fd rel err \(e)")
        }
        // Backward accumulates: a second backward doubles every gradient.
        let once = Array(grads.all)
        _ = loss(images, params)
        vit.backward(dOutput: wOut, dPreNorm: wPre, dImages: nil, params: params, grads: grads, acts: acts, pool: pool)
        #expect(maxAbsDiff(Array(grads.all), once.map { 2 * $0 }) < 1e-5)
    }

    @Test func dropPathMasksDependOnlyOnTheSampleSeed() throws {
        let cfg = ViTConfig(embedDim: 8, depth: 12, heads: 2, patchSize: 2, imageSize: 4, dropPathRate: 0.5)
        let vit = try VisionTransformer(config: cfg)
        let a = try vit.makeActivations(B: 3, Hi: 4, Wi: 4, pool: pool)
        let b = try vit.makeActivations(B: 2, Hi: 4, Wi: 4, pool: pool)
        a.setDropPath(seeds: [7, 8, 9], config: cfg)
        b.setDropPath(seeds: [9, 7], config: cfg)
        var dropped = 0
        for l in 0 ..< 12 {
            for branch in 0 ..< 2 {
                let sa = a.scales(block: l, branch: branch, config: cfg)
                let sb = b.scales(block: l, branch: branch, config: cfg)
                if l == 0 { #expect(sa == nil && sb == nil); continue }
                let p = cfg.dropPathProbability(block: l)
                #expect(sa![2] == sb![0] && sa![0] == sb![1])
                for i in 0 ..< 3 {
                    #expect(sa![i] == 0 || abs(sa![i] - Float(1 / (1 - p))) < 1e-6)
                    if sa![i] == 0 { dropped += 1 }
                }
            }
        }
        #expect(dropped > 0 && dropped < 66)
        #expect(abs(cfg.dropPathProbability(block: 11) - 0.5) < 1e-7)
        #expect(throws: ViTError.self) { try a.setDropPath(keepMask: [1, 0], config: cfg) }
    }

    @Test func configsPresetsAndLayoutNames() throws {
        let s = try ViTConfig.preset("vit_small", patchSize: 16, imageSize: 224, relationBlocks: 1)
        #expect(s.embedDim == 384 && s.depth == 12 && s.heads == 6)
        let layout = s.makeLayout()
        #expect(layout.spec("pos_embed")?.shape == [1, 197, 384])
        #expect(layout.spec("patch_embed.proj.weight")?.shape == [384, 3, 16, 16])
        #expect(layout.spec("blocks.11.mlp.fc1.weight")?.shape == [1536, 384])
        #expect(layout.spec("relation_blocks.0.attn.qkv.bias")?.shape == [1152])
        #expect(layout.specs.first?.name == "cls_token" && layout.specs.last?.name == "relation_blocks.0.mlp.fc2.bias")
        // timm vit_small_patch16_224 without head has 21,665,664 parameters; + one block (1,774,464).
        #expect(layout.parameterCount == 21_665_664 + 1_774_464)
        #expect(try ViTConfig.preset("vit_large").depth == 24)
        #expect(throws: ViTError.unknownPreset("vit_huge")) { try ViTConfig.preset("vit_huge") }
        #expect(throws: ViTError.self) { try ViTConfig(embedDim: 10, depth: 1, heads: 3).validate() }
        #expect(throws: ViTError.self) { try ViTConfig(embedDim: 8, depth: 1, heads: 2, dropPathRate: 1).validate() }
        let vit = try VisionTransformer(config: ViTBlockTests.tiny)
        #expect(throws: ViTError.imageTooSmall(height: 1, width: 6, patch: 2)) {
            try vit.makeActivations(B: 1, Hi: 1, Wi: 6, pool: pool)
        }
    }
}
