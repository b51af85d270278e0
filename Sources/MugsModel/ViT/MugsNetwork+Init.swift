import Foundation
import Sampling

extension MugsNetwork {
    /// Fills `params` (this network's layout) with the reference's initialisation, deterministically from `seed`:
    ///
    /// * Linear weights of the backbone, relation block, projectors: truncated normal, std 0.02, cut at ±2
    ///   (`trunc_normal_`); their biases 0; LayerNorm weight 1, bias 0 (`_init_weights`);
    /// * `cls_token`, `pos_embed`: truncated normal, std 0.02;
    /// * `patch_embed.proj` (Conv2d) and the predictors (built after the heads' `apply(_init_weights)`): PyTorch's
    ///   default, uniform in ±1/√fan_in (kaiming_uniform with a = √5), bias too;
    /// * `group_head.last_layer`: weight_v PyTorch's default Linear init, weight_g 1 (`weight_g.data.fill_(1)`).
    ///
    /// The values are not the reference's (another generator), the distributions are. The teacher starts as a copy
    /// of the student (`TrainState.copyStudentIntoTeacher`).
    public func initialize(_ params: ParameterBuffer, seed: UInt64) {
        precondition(params.layout.count == layout.count, "parameter buffer has another layout")
        for (i, spec) in layout.specs.enumerated() {
            var rng = SampleRNG(key: [seed, 0x696e_6974, UInt64(i)])          // "init"
            let p = params[spec.name], name = spec.name
            func uniform(_ bound: Double) { for j in 0 ..< p.count { p[j] = Float(rng.uniform(-bound, bound)) } }
            func truncNormal(_ std: Double) {
                for j in 0 ..< p.count {
                    var x = rng.normal() * std
                    while abs(x) > 2 { x = rng.normal() * std }              // cut at ±2 (absolute, as trunc_normal_)
                    p[j] = Float(x)
                }
            }
            let fanIn = spec.shape.count > 1 ? spec.shape.dropFirst().reduce(1, *) : 1
            if name.hasPrefix("patch_embed.") {
                let conv = layout.spec("patch_embed.proj.weight")!.shape.dropFirst().reduce(1, *)
                uniform(1 / Double(conv).squareRoot())
            } else if name.hasSuffix("last_layer.weight_g") {
                for j in 0 ..< p.count { p[j] = 1 }
            } else if name.hasSuffix("last_layer.weight_v") || name.contains(".predictor.") {
                uniform(1 / Double(fanIn).squareRoot())
            } else if name == "cls_token" || name == "pos_embed" {
                truncNormal(0.02)
            } else if name.hasSuffix(".bias") {
                for j in 0 ..< p.count { p[j] = 0 }
            } else if name.contains("norm") && spec.shape.count == 1 {
                for j in 0 ..< p.count { p[j] = 1 }                            // LayerNorm weights
            } else {
                truncNormal(0.02)                                                // Linear weights
            }
        }
    }
}
