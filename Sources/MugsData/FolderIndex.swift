import Foundation

/// The file list of an ImageFolder root: class names, relative paths and labels in torchvision's order,
/// the modification time of every directory walked, and a fingerprint of (classes, paths, labels).
///
/// Cache file (text, one record per line, `\` and newlines escaped): a header, the classes, the directories
/// with their mtimes, the files with their labels. It is reused only if every recorded directory still has
/// its recorded mtime (adding, removing or renaming an entry changes its directory's mtime); files edited in
/// place are not detected.
public struct FolderIndex: Sendable {
    public var root: String
    public var classes: [String]
    public var paths: [String]
    public var labels: [Int32]
    /// (relative directory path, mtime "sec.nsec"); "" is the root.
    public var directories: [(String, String)]
    public var fingerprint: String

    static let extensions = [".jpg", ".jpeg", ".png"]
    static let magic = "mugs-folder-index 1"

    /// Python's `sorted` on str: code-point order.
    static func pyLess(_ a: String, _ b: String) -> Bool { a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) }

    static func mtime(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return "\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }

    /// Directory entries (name, isDirectory), following symlinks.
    static func entries(_ path: String) -> [(String, Bool)] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var out: [(String, Bool)] = []
        while let e = readdir(dir) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            var isDir = e.pointee.d_type == UInt8(DT_DIR)
            if e.pointee.d_type == UInt8(DT_UNKNOWN) || e.pointee.d_type == UInt8(DT_LNK) {
                var st = stat()
                isDir = stat(path + "/" + name, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
            }
            out.append((name, isDir))
        }
        return out
    }

    /// Walks `root` as torchvision does. Throws when there are no class folders or a class has no image.
    public static func scan(root: String) throws -> FolderIndex {
        guard let rootTime = mtime(root) else {
            throw DataError(.notFound, root, hint: "cannot stat the dataset root")
        }
        let classes = entries(root).filter { $0.1 }.map { $0.0 }.sorted(by: pyLess)
        guard !classes.isEmpty else {
            throw DataError(.emptyDataset, root, hint: "no class folders; an ImageFolder root holds one folder per class")
        }
        var paths: [String] = [], labels: [Int32] = []
        var directories: [(String, String)] = [("", rootTime)]
        var empty: [String] = []
        for (label, cls) in classes.enumerated() {
            // sorted(os.walk(class_dir)): every directory's (root, files), ordered by the root path string.
            var walk: [(String, [String])] = []
            var stack = [cls]
            var visited = Set<String>()
            while let rel = stack.popLast() {
                let abs = root + "/" + rel
                let real = URL(fileURLWithPath: abs).resolvingSymlinksInPath().path
                if !visited.insert(real).inserted { continue } // symlink loops
                directories.append((rel, mtime(abs) ?? "?"))
                var files: [String] = []
                for (name, isDir) in entries(abs) {
                    if isDir { stack.append(rel + "/" + name) } else { files.append(name) }
                }
                walk.append((root + "/" + rel, files.sorted(by: pyLess)))
            }
            walk.sort { pyLess($0.0, $1.0) }
            let before = paths.count
            for (dirPath, files) in walk {
                let relDir = String(dirPath.dropFirst(root.count + 1))
                for f in files where extensions.contains(where: { f.lowercased().hasSuffix($0) }) {
                    paths.append(relDir + "/" + f)
                    labels.append(Int32(label))
                }
            }
            if paths.count == before { empty.append(cls) }
        }
        guard empty.isEmpty else {
            throw DataError(.emptyDataset, root, hint: "no .jpg/.jpeg/.png file in the class folder(s) "
                + empty.prefix(5).joined(separator: ", ") + (empty.count > 5 ? ", …" : "")
                + " (torchvision's ImageFolder refuses empty classes too)")
        }
        return FolderIndex(root: root, classes: classes, paths: paths, labels: labels, directories: directories,
                           fingerprint: fingerprintOf(classes: classes, paths: paths, labels: labels))
    }

    static func fingerprintOf(classes: [String], paths: [String], labels: [Int32]) -> String {
        var h = FNV1a()
        for c in classes { h.add(c); h.add([0x0A]) }
        for (p, l) in zip(paths, labels) { h.add(String(l)); h.add([0x09]); h.add(p); h.add([0x0A]) }
        return "folder-\(paths.count)-\(h.hex)"
    }

    /// True when every recorded directory still has its recorded mtime.
    public func isCurrent() -> Bool {
        for (rel, time) in directories {
            let path = rel.isEmpty ? root : root + "/" + rel
            if FolderIndex.mtime(path) != time { return false }
        }
        return true
    }

    // MARK: cache file

    /// Where the index of `root` is cached, or nil when no cache directory can be used.
    public static func cachePath(root: String, directory: String?) -> String? {
        let env = ProcessInfo.processInfo.environment
        var dir = directory ?? env["MUGS_CACHE_DIR"]
        if dir == nil, let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty { dir = xdg + "/mugs" }
        if dir == nil, let home = env["HOME"], !home.isEmpty { dir = home + "/.cache/mugs" }
        guard let dir else { return nil }
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch { return nil }
        var h = FNV1a()
        h.add(root)
        return dir + "/folder-index-\(h.hex).txt"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func unescape(_ s: Substring) -> String {
        if !s.contains("\\") { return String(s) }
        var out = "", it = s.makeIterator()
        while let c = it.next() {
            if c == "\\", let n = it.next() { out.append(n == "n" ? "\n" : n) } else { out.append(c) }
        }
        return out
    }

    /// Writes the cache atomically (temporary file + rename).
    public func save(_ path: String) throws {
        var text = FolderIndex.magic + "\n" + FolderIndex.escape(root) + "\n" + fingerprint + "\n"
        text += "classes \(classes.count)\n"
        for c in classes { text += FolderIndex.escape(c) + "\n" }
        text += "directories \(directories.count)\n"
        for (d, t) in directories { text += t + " " + FolderIndex.escape(d) + "\n" }
        text += "files \(paths.count)\n"
        for (p, l) in zip(paths, labels) { text += "\(l) " + FolderIndex.escape(p) + "\n" }
        let tmp = path + ".tmp\(getpid())"
        do {
            try text.write(toFile: tmp, atomically: false, encoding: .utf8)
            guard rename(tmp, path) == 0 else { throw DataError(.io, path, hint: "cannot rename the index cache") }
        } catch {
            unlink(tmp)
            throw error
        }
    }

    /// Reads a cache file; nil when missing, for another root, or malformed (then the folder is re-scanned).
    public static func load(_ path: String, root: String) -> FolderIndex? {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            return nil
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)[...]
        func next() -> Substring? { lines.popFirst() }
        func count(_ key: String) -> Int? {
            guard let l = next(), l.hasPrefix(key + " ") else { return nil }
            return Int(l.dropFirst(key.count + 1))
        }
        guard next() == Substring(magic), let r = next(), unescape(r) == root, let fp = next() else { return nil }
        guard let nc = count("classes"), nc > 0 else { return nil }
        var classes: [String] = []
        for _ in 0 ..< nc { guard let l = next() else { return nil }; classes.append(unescape(l)) }
        guard let nd = count("directories") else { return nil }
        var dirs: [(String, String)] = []
        for _ in 0 ..< nd {
            guard let l = next(), let sp = l.firstIndex(of: " ") else { return nil }
            dirs.append((unescape(l[l.index(after: sp)...]), String(l[..<sp])))
        }
        guard let nf = count("files") else { return nil }
        var paths: [String] = [], labels: [Int32] = []
        paths.reserveCapacity(nf); labels.reserveCapacity(nf)
        for _ in 0 ..< nf {
            guard let l = next(), let sp = l.firstIndex(of: " "), let lab = Int32(l[..<sp]),
                  lab >= 0, Int(lab) < nc else { return nil }
            labels.append(lab)
            paths.append(unescape(l[l.index(after: sp)...]))
        }
        let index = FolderIndex(root: root, classes: classes, paths: paths, labels: labels, directories: dirs,
                                fingerprint: String(fp))
        // A cache whose content does not hash to its own fingerprint is corrupt: rescan.
        guard fingerprintOf(classes: classes, paths: paths, labels: labels) == index.fingerprint else { return nil }
        return index
    }
}
