/// Errors of the ViT backbone: bad configurations and inputs that do not fit the planned buffers.
/// Each names what is wrong and where, for a person to fix.
public enum ViTError: Error, Equatable, CustomStringConvertible {
    case invalidConfig(field: String, reason: String)
    case unknownPreset(String)
    case badPositionGrid(patches: Int)
    case imageTooSmall(height: Int, width: Int, patch: Int)
    case shapeMismatch(what: String, expected: [Int], got: [Int])
    case missingParameter(String)

    public var description: String {
        switch self {
        case let .invalidConfig(field, reason): return "ViT config: \(field) \(reason)"
        case let .unknownPreset(name):
            return "unknown ViT preset '\(name)' (known: vit_tiny, vit_small, vit_base, vit_large)"
        case let .badPositionGrid(patches):
            return "position embedding has \(patches) patch entries; it must be a square grid n×n matching the image"
        case let .imageTooSmall(h, w, p): return "image \(h)×\(w) px is smaller than one \(p)×\(p) patch"
        case let .shapeMismatch(what, expected, got): return "\(what): expected shape \(expected), got \(got)"
        case let .missingParameter(name): return "parameter layout has no tensor named '\(name)'"
        }
    }
}
