/// The NumPy dtypes Relayout reads and writes: little-endian (or byte-sized) booleans, integers,
/// floats and complex numbers.
public enum NpyDType: String, CaseIterable, Sendable {
    case bool = "b1", uint8 = "u1", int8 = "i1"
    case uint16 = "u2", int16 = "i2", float16 = "f2"
    case uint32 = "u4", int32 = "i4", float32 = "f4"
    case uint64 = "u8", int64 = "i8", float64 = "f8"
    case complex64 = "c8", complex128 = "c16"

    /// Bytes per element.
    public var elementSize: Int { Int(rawValue.dropFirst())! }

    /// The `descr` string written into a `.npy` header.
    public var descr: String { (elementSize == 1 ? "|" : "<") + rawValue }

    /// Parses a `.npy` `descr` such as `<f4`, `|u1` or `=i8`; big-endian multi-byte types are rejected.
    public init(descr: String) throws {
        guard let order = descr.first, "<>|=".contains(order),
              let type = NpyDType(rawValue: String(descr.dropFirst()))
        else {
            throw RelayoutError.unsupportedElement("dtype '\(descr)' (supported: \(NpyDType.allCases.map(\.rawValue).joined(separator: " ")))")
        }
        if order == ">" && type.elementSize > 1 {
            throw RelayoutError.unsupportedElement("big-endian dtype '\(descr)'")
        }
        self = type
    }
}
