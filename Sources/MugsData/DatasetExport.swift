import Foundation

/// Writes a dataset as an ImageFolder of JPEG files (`<out>/<NN_class>/<index>.jpg`), so the real file path
/// (directory scan, libjpeg decode) can be exercised end to end without ImageNet. Class folder names are
/// prefixed with the zero-padded label so that sorting them reproduces the label order, and characters
/// that cannot appear in a file name ('/') are replaced.
public enum DatasetExport {
    public struct Summary: Sendable {
        public var written: Int
        public var bytes: Int
        public var skipped: [(String, String)]
    }

    /// The folder name of class `label`.
    public static func folderName(label: Int, name: String, classCount: Int) -> String {
        let width = max(2, String(max(classCount - 1, 0)).count)
        let padded = String(repeating: "0", count: max(0, width - String(label).count)) + String(label)
        let safe = name.map { $0 == "/" || $0 == "\0" ? "_" : $0 }
        return padded + "_" + String(safe).replacingOccurrences(of: " ", with: "_")
    }

    /// Exports images 0 ..< min(limit, count). Existing files are overwritten; the output directory is created.
    @discardableResult
    public static func imageFolder(_ dataset: ImageDataset, to out: String, quality: Int = 95, limit: Int? = nil,
                                   progress: ((Int, Int) -> Void)? = nil) throws -> Summary {
        let fm = FileManager.default
        let classes = dataset.classNames
        let n = min(limit ?? dataset.count, dataset.count)
        for (label, name) in classes.enumerated() {
            let dir = out + "/" + folderName(label: label, name: name, classCount: classes.count)
            do { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw DataError(.io, dir, hint: "cannot create the class folder: \(error.localizedDescription)")
            }
        }
        let digits = String(max(n - 1, 0)).count
        let image = RGBImage()
        var buffer: [UInt8] = []
        var summary = Summary(written: 0, bytes: 0, skipped: [])
        for i in 0 ..< n {
            do {
                try dataset.load(i, into: image, minimumArea: 0, buffer: &buffer)
            } catch {
                summary.skipped.append((dataset.name(i), (error as? DataError)?.hint ?? "\(error)"))
                continue
            }
            let label = dataset.label(i)
            let jpeg = try ImageDecoder.encodeJPEG(image, quality: quality)
            let id = String(i)
            let file = out + "/" + folderName(label: label, name: classes[label], classCount: classes.count) + "/"
                + String(repeating: "0", count: max(0, digits - id.count)) + id + ".jpg"
            guard fm.createFile(atPath: file, contents: Data(jpeg)) else {
                throw DataError(.io, file, hint: "cannot write the image (disk full or no permission?)")
            }
            summary.written += 1
            summary.bytes += jpeg.count
            if let progress, (i + 1) % 1000 == 0 || i + 1 == n { progress(i + 1, n) }
        }
        return summary
    }
}
