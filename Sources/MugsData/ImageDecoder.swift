import CImage
import Foundation

/// JPEG/PNG decoding to RGB through libjpeg-turbo and libpng (the `CImage` C target). The format is told by
/// the file's magic bytes, not its name (ImageNet has PNG and CMYK files named .JPEG).
public enum ImageDecoder {
    /// Decodes `data` into `image`. `minimumArea`: for JPEG, the largest DCT down-scaling 1/d (d ∈ 2, 4, 8)
    /// whose output still has at least this many pixels is used (0: full size).
    public static func decode(_ data: UnsafeRawBufferPointer, into image: RGBImage, minimumArea: Int = 0,
                              source: String) throws {
        let bytes = data.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let len = data.count
        var err = [CChar](repeating: 0, count: Int(CIMAGE_ERR_LEN))
        var format: Int32 = 0, w: Int32 = 0, h: Int32 = 0
        let empty: [UInt8] = [0]
        func message() -> String { String(cString: err) }
        return try empty.withUnsafeBufferPointer { emptyBuffer in
            let ptr = bytes ?? emptyBuffer.baseAddress!
            var rc = cimage_probe(ptr, len, 1, &format, &w, &h, &err)
            guard rc == 0 else { throw DataError(.unreadableImage, source, hint: message() + "; it was skipped") }
            var denom: Int32 = 1
            if format == CIMAGE_FORMAT_JPEG && minimumArea > 0 {
                for d: Int32 in [8, 4, 2] {
                    let sw = (Int(w) + Int(d) - 1) / Int(d), sh = (Int(h) + Int(d) - 1) / Int(d)
                    if sw * sh >= minimumArea { denom = d; break }
                }
                if denom != 1 {
                    rc = cimage_probe(ptr, len, denom, &format, &w, &h, &err)
                    guard rc == 0 else {
                        throw DataError(.unreadableImage, source, hint: message() + "; it was skipped")
                    }
                }
            }
            image.reshape(width: Int(w), height: Int(h))
            rc = cimage_decode(ptr, len, denom, image.pixels, image.capacity, w, h, &err)
            guard rc == 0 else { throw DataError(.unreadableImage, source, hint: message() + "; it was skipped") }
        }
    }

    /// Reads and decodes a file.
    public static func decodeFile(_ path: String, into image: RGBImage, minimumArea: Int = 0,
                                  buffer: inout [UInt8]) throws {
        let n = try FileBytes.read(path, into: &buffer)
        try buffer.withUnsafeBytes {
            try decode(UnsafeRawBufferPointer(rebasing: $0[0 ..< n]), into: image, minimumArea: minimumArea, source: path)
        }
    }

    /// Encodes an RGB image as JPEG bytes (export).
    public static func encodeJPEG(_ image: RGBImage, quality: Int = 95) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var len = 0
        var err = [CChar](repeating: 0, count: Int(CIMAGE_ERR_LEN))
        let rc = cimage_encode_jpeg(image.pixels, Int32(image.width), Int32(image.height), Int32(quality), &out, &len,
                                    &err)
        guard rc == 0, let out else {
            throw DataError(.io, "JPEG encoder", hint: String(cString: err))
        }
        defer { cimage_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: len))
    }
}
