import CImage
import Foundation
import MugsData

/// Writes 8-bit RGB images as PNG through libpng (`cimage_encode_png`), atomically (temp file + rename).
public enum PNGWriter {
    public static func encode(_ image: RGBImage) throws(EvalError) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var length = 0
        var err = [CChar](repeating: 0, count: Int(CIMAGE_ERR_LEN))
        let rc = cimage_encode_png(image.pixels, Int32(image.width), Int32(image.height), &out, &length, &err)
        guard rc == 0, let out else {
            throw EvalError(.output, "PNG encoding of a \(image.width)×\(image.height) image failed: "
                            + String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { cimage_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: length))
    }

    public static func write(_ image: RGBImage, to path: String) throws(EvalError) {
        let bytes = try encode(image)
        let tmp = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(bytes)) else {
            throw EvalError(.output, "\(path): cannot write (is the directory there and writable?)")
        }
        if rename(tmp, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw EvalError(.output, "\(path): cannot move the finished file into place: \(reason)")
        }
    }
}
