#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading and writing the safetensors format (huggingface/safetensors): an 8-byte little-endian header length N,
/// N bytes of UTF-8 JSON (`{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
/// "__metadata__": {"key": "value"}}`), then the data section whose byte ranges the header gives.
///
/// Every malformed file gives a `SafeTensorsError` naming the file and what is wrong; nothing in a file can make the
/// reader trap or read out of bounds (see `SafeTensorsHeader` for the checks, and the fuzz test).
public enum SafeTensors {
    /// Largest header accepted, in bytes (the reference implementation's bound).
    public static let maxHeaderBytes = 100_000_000

    /// Opens and validates a file; tensor data is read later, on demand.
    public static func read(path: String) throws(SafeTensorsError) -> SafeTensorsFile {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SafeTensorsError(.io, path: path, "cannot open: \(errnoText())") }
        do throws(SafeTensorsError) {
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw SafeTensorsError(.io, path: path, "cannot stat: \(errnoText())") }
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                throw SafeTensorsError(.io, path: path, "not a regular file")
            }
            let fileSize = Int(st.st_size)
            var prefix = [UInt8](repeating: 0, count: 8)
            let got = try preadFully(fd, &prefix, offset: 0, path: path)
            let headerLength = try checkPrefix(prefix[0 ..< got], fileSize: fileSize, path: path)
            var header = [UInt8](repeating: 0, count: headerLength)
            guard try preadFully(fd, &header, offset: 8, path: path) == headerLength else {
                throw SafeTensorsError(.headerOutOfBounds, path: path, "the file ended inside the header")
            }
            let parsed = try header.withUnsafeBufferPointer { (h) throws(SafeTensorsError) in
                try SafeTensorsHeader.parse(h, dataLength: fileSize - 8 - headerLength, path: path)
            }
            return SafeTensorsFile(path: path, header: parsed, descriptor: fd, dataStart: 8 + headerLength)
        } catch {
            close(fd)
            throw error
        }
    }

    /// Validates a complete file held in memory (`name` appears in errors).
    public static func parse(bytes: [UInt8], name: String = "<memory>") throws(SafeTensorsError) -> SafeTensorsFile {
        let headerLength = try checkPrefix(bytes.prefix(8), fileSize: bytes.count, path: name)
        let parsed = try bytes.withUnsafeBufferPointer { (all) throws(SafeTensorsError) in
            try SafeTensorsHeader.parse(UnsafeBufferPointer(rebasing: all[8 ..< 8 + headerLength]),
                                        dataLength: bytes.count - 8 - headerLength, path: name)
        }
        return SafeTensorsFile(name: name, header: parsed, bytes: bytes, dataStart: 8 + headerLength)
    }

    /// The header length from the 8-byte prefix, bounded by `maxHeaderBytes` and by the file.
    private static func checkPrefix(_ prefix: ArraySlice<UInt8>, fileSize: Int, path: String)
        throws(SafeTensorsError) -> Int
    {
        guard prefix.count == 8, fileSize >= 8 else {
            throw SafeTensorsError(.fileTooSmall, path: path,
                                   "the file has \(fileSize) bytes, fewer than the 8-byte header length")
        }
        var n: UInt64 = 0
        for (i, b) in prefix.enumerated() { n |= UInt64(b) << (8 * UInt64(i)) }
        guard n <= UInt64(maxHeaderBytes) else {
            throw SafeTensorsError(.headerTooLarge, path: path,
                                   "the header length is \(n) bytes, more than the \(maxHeaderBytes) accepted")
        }
        guard Int(n) <= fileSize - 8 else {
            throw SafeTensorsError(.headerOutOfBounds, path: path,
                                   "the header length \(n) runs past the end of the file (\(fileSize) bytes)")
        }
        return Int(n)
    }

    /// Reads up to `buffer.count` bytes at `offset`; returns how many (fewer only at end of file).
    private static func preadFully(_ fd: Int32, _ buffer: inout [UInt8], offset: Int, path: String)
        throws(SafeTensorsError) -> Int
    {
        let total = buffer.count
        return try buffer.withUnsafeMutableBytes { raw in Result { () throws(SafeTensorsError) -> Int in
            var done = 0
            while done < total {
                let n = pread(fd, raw.baseAddress! + done, total - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw SafeTensorsError(.io, path: path, "read failed: \(errnoText())")
                }
                if n == 0 { break }
                done += n
            }
            return done
        } }.get()
    }

    static func errnoText() -> String { String(cString: strerror(errno)) + " (errno \(errno))" }
}
