/// Perceptual colour map for heat-maps: matplotlib's viridis (the default of DINO's `plt.imsave`), approximated by
/// its colours at 0, 1/8, …, 1 (entries 0, 32, …, 224, 255 of the 256-entry table) interpolated linearly.
enum Colormap {
    static let viridis: [(Float, Float, Float)] = [
        (68, 1, 84), (72, 36, 117), (59, 82, 139), (44, 114, 142), (33, 145, 140),
        (34, 168, 132), (94, 201, 98), (173, 220, 48), (253, 231, 37),
    ]

    /// RGB (0–255) of v in [0, 1] (clamped).
    @inline(__always)
    static func color(_ v: Float) -> (Float, Float, Float) {
        let x = min(max(v.isNaN ? 0 : v, 0), 1) * Float(viridis.count - 1)
        let i = min(Int(x), viridis.count - 2), f = x - Float(i)
        let a = viridis[i], b = viridis[i + 1]
        return (a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f, a.2 + (b.2 - a.2) * f)
    }
}
