/// One tensor as a safetensors header describes it.
public struct SafeTensorInfo: Sendable, Equatable {
    /// The tensor's name (the header key).
    public let name: String
    /// Element type as stored.
    public let dtype: SafeTensorsDType
    /// Dimensions, outermost first (`[]` for a scalar).
    public let shape: [Int]
    /// Number of elements (1 for a scalar `[]`, 0 when a dimension is 0).
    public let count: Int
    /// Byte range inside the data section (the bytes after the 8-byte prefix and the header).
    public let dataRange: Range<Int>
}

/// The validated header of a safetensors file: tensors in header order and the `__metadata__` strings.
///
/// Validation follows the format's reference implementation (huggingface/safetensors, `tensor.rs`) and is a
/// little stricter: the header must start with `{` and be UTF-8 JSON without duplicate keys; each entry must have
/// exactly `dtype`, `shape`, `data_offsets`; `__metadata__` must map strings to strings; sorted by offset, the
/// tensors must tile the data section exactly (first at 0, each starting where the previous ends, the last ending
/// at the end of the file) and each byte length must equal count × dtype size (computed with overflow checks).
struct SafeTensorsHeader {
    var tensors: [SafeTensorInfo]
    var metadata: [String: String]

    /// Validates `header` (the JSON bytes) against a data section of `dataLength` bytes.
    static func parse(_ header: UnsafeBufferPointer<UInt8>, dataLength: Int, path: String)
        throws(SafeTensorsError) -> SafeTensorsHeader
    {
        func fail(_ kind: SafeTensorsError.Kind, _ tensor: String? = nil, _ message: String) -> SafeTensorsError {
            SafeTensorsError(kind, path: path, tensor: tensor, message)
        }
        guard header.first == UInt8(ascii: "{") else {
            throw fail(.headerNotObject, nil, "the header does not start with '{' (it must be a JSON object)")
        }
        guard String(validating: header, as: UTF8.self) != nil else {
            throw fail(.headerNotUTF8, nil, "the header is not valid UTF-8")
        }
        let root: JSONValue
        do {
            root = try JSONReader.parse(header)
        } catch {
            switch error {
            case let .syntax(offset, message):
                throw fail(.invalidJSON, nil, "the header is not valid JSON: \(message) at header byte \(offset)")
            case let .duplicateKey(key, depth) where depth == 1:
                throw fail(.duplicateName, key, "the name appears more than once in the header")
            case let .duplicateKey(key, _):
                throw fail(.invalidJSON, nil, "the header repeats the key '\(key)' inside an object")
            }
        }
        guard case let .object(members) = root else {
            throw fail(.headerNotObject, nil, "the header is \(root.typeName), not a JSON object")
        }

        var tensors: [SafeTensorInfo] = []
        var metadata: [String: String] = [:]
        tensors.reserveCapacity(members.count)
        for (name, value) in members {
            if name == "__metadata__" {
                metadata = try parseMetadata(value, fail: fail)
            } else {
                tensors.append(try parseEntry(name, value, fail: fail))
            }
        }
        try checkTiling(tensors, dataLength: dataLength, fail: fail)
        return SafeTensorsHeader(tensors: tensors, metadata: metadata)
    }

    private typealias Fail = (SafeTensorsError.Kind, String?, String) -> SafeTensorsError

    private static func parseMetadata(_ value: JSONValue, fail: Fail) throws(SafeTensorsError) -> [String: String] {
        guard case let .object(members) = value else {
            throw fail(.invalidMetadata, nil, "__metadata__ is \(value.typeName), not an object of strings")
        }
        var out: [String: String] = [:]
        for (key, v) in members {
            guard case let .string(s) = v else {
                throw fail(.invalidMetadata, nil, "__metadata__ value for '\(key)' is \(v.typeName), not a string")
            }
            out[key] = s
        }
        return out
    }

    private static func parseEntry(_ name: String, _ value: JSONValue, fail: Fail)
        throws(SafeTensorsError) -> SafeTensorInfo
    {
        guard case let .object(fields) = value else {
            throw fail(.invalidEntry, name, "the entry is \(value.typeName), not an object")
        }
        var dtypeValue: JSONValue?, shapeValue: JSONValue?, offsetsValue: JSONValue?
        for (key, v) in fields {
            switch key {
            case "dtype": dtypeValue = v
            case "shape": shapeValue = v
            case "data_offsets": offsetsValue = v
            default: throw fail(.invalidEntry, name, "unexpected field '\(key)' (allowed: dtype, shape, data_offsets)")
            }
        }
        guard let dtypeValue, let shapeValue, let offsetsValue else {
            let missing = [("dtype", dtypeValue), ("shape", shapeValue), ("data_offsets", offsetsValue)]
                .filter { $0.1 == nil }.map(\.0).joined(separator: ", ")
            throw fail(.invalidEntry, name, "missing field(s): \(missing)")
        }

        guard case let .string(dtypeName) = dtypeValue else {
            throw fail(.invalidEntry, name, "dtype is \(dtypeValue.typeName), not a string")
        }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            let known = SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", ")
            throw fail(.unknownDType, name, "unknown dtype '\(dtypeName)' (known: \(known))")
        }

        guard case let .array(dims) = shapeValue else {
            throw fail(.invalidEntry, name, "shape is \(shapeValue.typeName), not an array")
        }
        var shape: [Int] = []
        var count = 1
        shape.reserveCapacity(dims.count)
        for (axis, d) in dims.enumerated() {
            guard let n = d.integer, n >= 0 else {
                throw fail(.invalidShape, name, "dimension \(axis) is \(describe(d)), not a non-negative integer")
            }
            shape.append(n)
            let (product, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow else { throw fail(.invalidShape, name, "shape \(dims.map(describe)) overflows") }
            count = product
        }

        guard case let .array(offsets) = offsetsValue, offsets.count == 2 else {
            throw fail(.invalidOffsets, name, "data_offsets must be an array of two integers [begin, end]")
        }
        guard let begin = offsets[0].integer, let end = offsets[1].integer, begin >= 0, end >= begin else {
            throw fail(.invalidOffsets, name,
                       "data_offsets [\(describe(offsets[0])), \(describe(offsets[1]))] must be integers "
                       + "0 ≤ begin ≤ end")
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, bytes == end - begin else {
            throw fail(.sizeMismatch, name,
                       "shape \(shape) of \(dtype.rawValue) needs \(overflow ? "more than Int.max" : "\(bytes)") "
                       + "bytes but data_offsets [\(begin), \(end)] hold \(end - begin)")
        }
        return SafeTensorInfo(name: name, dtype: dtype, shape: shape, count: count, dataRange: begin ..< end)
    }

    /// Sorted by (begin, end), the ranges must start at 0, abut, and end exactly at `dataLength`.
    private static func checkTiling(_ tensors: [SafeTensorInfo], dataLength: Int, fail: Fail) throws(SafeTensorsError) {
        let sorted = tensors.sorted {
            ($0.dataRange.lowerBound, $0.dataRange.upperBound) < ($1.dataRange.lowerBound, $1.dataRange.upperBound)
        }
        var cursor = 0
        var previous: String?
        for t in sorted {
            let r = t.dataRange
            if r.lowerBound < cursor {
                throw fail(.overlappingData, t.name,
                           "bytes [\(r.lowerBound), \(r.upperBound)) overlap tensor '\(previous ?? "")' "
                           + "(which ends at \(cursor))")
            }
            if r.lowerBound > cursor {
                let after = previous.map { "after tensor '\($0)'" } ?? "at the start of the data section"
                throw fail(.gapInData, t.name,
                           "starts at data byte \(r.lowerBound), leaving bytes [\(cursor), \(r.lowerBound)) \(after) "
                           + "unused")
            }
            if r.upperBound > dataLength {
                throw fail(.dataOutOfBounds, t.name,
                           "bytes [\(r.lowerBound), \(r.upperBound)) run past the end of the data section "
                           + "(\(dataLength) bytes): the file is truncated or the offsets are wrong")
            }
            // A zero-length tensor must sit at the cursor too (as in the reference); it does not move it.
            if !r.isEmpty { cursor = r.upperBound; previous = t.name }
        }
        if cursor != dataLength {
            throw fail(.trailingData, previous, "the data section has \(dataLength) bytes but the tensors end at "
                       + "\(cursor): \(dataLength - cursor) trailing bytes")
        }
    }

    private static func describe(_ v: JSONValue) -> String {
        switch v {
        case let .number(text): return text
        case let .string(s): return "\"\(s.prefix(40))\""
        default: return v.typeName
        }
    }
}
