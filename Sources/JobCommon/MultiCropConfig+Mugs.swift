import MugsData
import MugsModel

extension MultiCropConfig {
    /// The crops a training config asks for: sizes, counts and scales, `prob`, `vanilla_weak_augmentation`, the
    /// RandAugment string, `re_prob` and the weak branch's jitter, blur and solarize probabilities and blur radii;
    /// everything the config does not name keeps MugsData's reference defaults.
    /// `color_aug` and `strong_ratio` are refused when changed from their defaults (the data pipeline does not
    /// implement them).
    public init(training c: MugsConfig) throws {
        self.init(globalSize: c.global_crop_size, localSize: c.local_crop_size, localCount: c.local_crops_number)
        globalScale = (c.global_crops_scale[0], c.global_crops_scale[1])
        localScale = (c.local_crops_scale[0], c.local_crops_scale[1])
        weakProbability = c.prob
        vanillaWeak = c.vanilla_weak_augmentation
        randAugment = c.timm_auto_augment_par
        erasingProbability = c.re_prob
        jitterProbability = c.color_jitter_prob
        blurRadius = (c.blur_radius[0], c.blur_radius[1])
        blurProbability = (c.blur_prob[0], c.blur_prob[1], c.blur_prob[2])
        solarizeProbability = c.solarize_prob
        let defaults = MugsConfig()
        if c.color_aug != defaults.color_aug || c.strong_ratio != defaults.strong_ratio {
            throw JobError("config", "color_aug / strong_ratio differ from the reference defaults",
                           hint: "the data pipeline implements the reference's default strong augmentation only")
        }
    }
}
