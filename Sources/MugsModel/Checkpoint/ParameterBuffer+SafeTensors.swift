import SafeTensors

extension ParameterBuffer {
    /// Every tensor of the layout as a borrowed entry named `prefix + name` (padding excluded). The buffer must
    /// outlive the write.
    public func safeTensorsEntries(prefix: String = "") -> [SafeTensorsEntry] {
        layout.specs.map { spec in
            SafeTensorsEntry(prefix + spec.name, shape: spec.shape, borrowing: UnsafeBufferPointer(self[spec.name]))
        }
    }
}
