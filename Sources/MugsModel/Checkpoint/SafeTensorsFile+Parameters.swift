import SafeTensors

extension SafeTensorsFile {
    /// Fills every tensor of `buffer`'s layout from the file tensor named `prefix + name`, converting to Float32.
    ///
    /// Everything is checked before anything is copied: one error lists every missing tensor, every shape that
    /// differs, every dtype that does not convert and (unless `allowUnused`) every file tensor under `prefix` that
    /// the layout does not have. On error the buffer is untouched.
    public func load(into buffer: ParameterBuffer, prefix: String = "", allowUnused: Bool = true)
        throws(SafeTensorsError)
    {
        var missing: [String] = [], misshaped: [String] = [], unconvertible: [String] = []
        for spec in buffer.layout.specs {
            let key = prefix + spec.name
            guard let t = info(key) else { missing.append(key); continue }
            if t.shape != spec.shape { misshaped.append("\(key) is \(t.shape), expected \(spec.shape)") }
            if !t.dtype.convertsToFloat { unconvertible.append("\(key) is \(t.dtype.rawValue)") }
        }
        let unused = allowUnused ? [] : tensors.map(\.name).filter {
            $0.hasPrefix(prefix) && buffer.layout.index(of: String($0.dropFirst(prefix.count))) == nil
        }
        if !(missing.isEmpty && misshaped.isEmpty && unconvertible.isEmpty && unused.isEmpty) {
            func list(_ title: String, _ items: [String]) -> String? {
                guard !items.isEmpty else { return nil }
                let shown = items.prefix(12).joined(separator: ", ")
                return "\(items.count) \(title): \(shown)\(items.count > 12 ? ", …" : "")"
            }
            let parts = [list("missing", missing), list("with the wrong shape", misshaped),
                         list("with a dtype that does not convert to F32", unconvertible),
                         list("not expected", unused)].compactMap { $0 }
            let kind: SafeTensorsError.Kind = !missing.isEmpty ? .missingTensor
                : !misshaped.isEmpty ? .shapeMismatch : !unconvertible.isEmpty ? .unsupportedDType : .invalidArgument
            let what = prefix.isEmpty ? "" : " under prefix '\(prefix)'"
            throw SafeTensorsError(kind, path: path,
                                   "does not match the \(buffer.layout.specs.count)-tensor layout\(what): "
                                   + parts.joined(separator: "; "))
        }
        for spec in buffer.layout.specs {
            try read(prefix + spec.name, into: buffer[spec.name], shape: spec.shape)
        }
    }
}
