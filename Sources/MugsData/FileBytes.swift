import Foundation

/// Whole-file reads with POSIX calls into a reusable buffer.
public enum FileBytes {
    /// Reads the file into the front of `buffer` (grown when needed, never shrunk); returns its length.
    @discardableResult
    public static func read(_ path: String, into buffer: inout [UInt8]) throws -> Int {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw DataError(.unreadableImage, path, hint: "cannot open (\(String(cString: strerror(errno)))); it was skipped")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw DataError(.unreadableImage, path, hint: "cannot stat; it was skipped")
        }
        let size = Int(st.st_size)
        if buffer.count < size { buffer = [UInt8](repeating: 0, count: size + size / 4) }
        var done = 0
        try buffer.withUnsafeMutableBytes { raw in
            while done < size {
                let n = Foundation.read(fd, raw.baseAddress! + done, size - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    throw DataError(.unreadableImage, path, hint: "read failed after \(done) of \(size) bytes")
                }
                done += n
            }
        }
        return size
    }
}
