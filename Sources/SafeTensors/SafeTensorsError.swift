import Foundation

/// Why a safetensors file could not be read or written. `description` is a sentence for a person: it names the
/// file, the tensor where there is one, and what is wrong. Tests match on `kind`.
public struct SafeTensorsError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// What went wrong, for code that reacts to it (the message is for people).
    public enum Kind: String, Sendable, Equatable {
        /// Opening, reading, writing, syncing or renaming failed (the message carries the OS error).
        case io
        /// Fewer than the 8 bytes of the header-length prefix.
        case fileTooSmall
        /// The header length exceeds `SafeTensors.maxHeaderBytes`.
        case headerTooLarge
        /// The header length runs past the end of the file.
        case headerOutOfBounds
        /// The header is not valid UTF-8.
        case headerNotUTF8
        /// The header does not start with `{` / is not a JSON object.
        case headerNotObject
        /// The header is not valid JSON.
        case invalidJSON
        /// A tensor name appears twice (in the header, or among tensors given to the writer).
        case duplicateName
        /// `__metadata__` is not an object of string values.
        case invalidMetadata
        /// A tensor entry is not an object with exactly `dtype`, `shape` and `data_offsets` of the right JSON types.
        case invalidEntry
        /// A `dtype` string the format does not define.
        case unknownDType
        /// A dimension that is not a non-negative integer, or a shape whose size overflows.
        case invalidShape
        /// `data_offsets` is not two non-negative integers `[begin, end]` with begin ≤ end.
        case invalidOffsets
        /// `end - begin` differs from the element count times the dtype's size.
        case sizeMismatch
        /// Two tensors' byte ranges overlap.
        case overlappingData
        /// Bytes of the data section belong to no tensor (a gap, or the first tensor does not start at 0).
        case gapInData
        /// A tensor's bytes run past the end of the file (the file is truncated, or the offsets are out of range).
        case dataOutOfBounds
        /// The file has bytes after the last tensor.
        case trailingData
        /// A tensor the caller asked for is not in the file.
        case missingTensor
        /// The tensor's dtype does not convert to Float32.
        case unsupportedDType
        /// A tensor's shape differs from the one the caller needs.
        case shapeMismatch
        /// The writer was given something it cannot write (bad name, shape/count disagreement, bad metadata key).
        case invalidArgument
    }

    /// What went wrong.
    public let kind: Kind
    /// The file (or `<memory>` for byte buffers).
    public let path: String
    /// The tensor concerned, when there is one.
    public let tensor: String?
    /// What is wrong, in words.
    public let message: String

    /// An error of `kind` about the file at `path` (and `tensor`, when there is one).
    public init(_ kind: Kind, path: String, tensor: String? = nil, _ message: String) {
        self.kind = kind
        self.path = path
        self.tensor = tensor
        self.message = message
    }

    /// `safetensors file PATH: tensor 'NAME': MESSAGE`.
    public var description: String {
        let what = tensor.map { "tensor '\($0)': " } ?? ""
        return "safetensors file \(path): \(what)\(message)"
    }

    /// The same sentence as `description`, for Foundation's `localizedDescription`.
    public var errorDescription: String? { description }
}
