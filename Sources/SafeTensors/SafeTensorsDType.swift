/// Element types of the safetensors format (the names its headers use). Every listed type can be validated and its
/// raw bytes read; `F32`, `F16`, `BF16` and `F64` also convert to Float32.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case bool = "BOOL"
    case u8 = "U8", i8 = "I8"
    case f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3"
    case u16 = "U16", i16 = "I16", f16 = "F16", bf16 = "BF16"
    case u32 = "U32", i32 = "I32", f32 = "F32"
    case u64 = "U64", i64 = "I64", f64 = "F64"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3: return 1
        case .u16, .i16, .f16, .bf16: return 2
        case .u32, .i32, .f32: return 4
        case .u64, .i64, .f64: return 8
        }
    }

    /// Whether `SafeTensorsFile` converts this type to Float32.
    public var convertsToFloat: Bool { self == .f32 || self == .f16 || self == .bf16 || self == .f64 }
}

/// Bit-exact conversions of the 16-bit float formats to Float32 (every value, including subnormals, ±inf and NaN,
/// is exactly representable in Float32, so these are lossless).
public enum HalfFloat {
    /// IEEE 754 binary16 → binary32. Layout: sign 1, exponent 5 (bias 15), mantissa 10.
    @inline(__always)
    public static func f16ToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0x1F {  // inf / NaN: keep the payload (quiet bit included) in the top mantissa bits
            return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
        }
        if exponent == 0 {
            // ±0 or subnormal: value = mantissa · 2⁻²⁴, exact in Float32.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign != 0 ? -magnitude : magnitude
        }
        return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)  // rebias 15 → 127
    }

    /// bfloat16 → binary32: bfloat16 is the top half of a Float32.
    @inline(__always)
    public static func bf16ToFloat(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }
}
