/// The two data-plane loops: add a received segment into the buffer, or copy it. The add is a plain elementwise
/// IEEE add (SIMD lanes are independent; no FMA, no reassociation), so every CPU computes the same bits.
enum ReduceKernel {
    /// dst[i] = dst[i] + src[i] for i < count. `src` may have any alignment (it points into libzmq's receive
    /// buffer); `dst` is 4-byte aligned.
    static func add(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, _ count: Int) {
        let d = UnsafeMutableRawPointer(dst)
        var i = 0
        while i &+ 16 <= count {
            let o = i &* 4
            let a = d.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self)
            let b = src.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self)
            d.storeBytes(of: a + b, toByteOffset: o, as: SIMD16<Float>.self)
            i &+= 16
        }
        while i < count {
            let o = i &* 4
            let s = src.loadUnaligned(fromByteOffset: o, as: Float.self)
            dst[i] = dst[i] + s
            i &+= 1
        }
    }

    /// Copies `bytes` bytes.
    static func copy(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, _ bytes: Int) {
        dst.copyMemory(from: src, byteCount: bytes)
    }
}
