/// Every failure Relayout reports. Each case renders as a one-line message that names what was wrong.
public enum RelayoutError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A shape, stride list or axis argument does not make sense (for example a negative size).
    case invalidLayout(String)
    /// The view reaches elements outside its storage.
    case outOfBounds(String)
    /// Shapes that must agree do not.
    case shapeMismatch(String)
    /// An index or axis lies outside its dimension.
    case indexOutOfRange(String)
    /// The destination of a copy writes some element more than once.
    case overlappingDestination(String)
    /// A reshape needs a copy (the view cannot express it).
    case reshapeNeedsCopy(String)
    /// An element size or dtype Relayout does not handle.
    case unsupportedElement(String)
    /// A file could not be read, parsed or written.
    case io(String)
    /// Memory could not be allocated.
    case allocationFailed(String)
    /// An argument outside its allowed range (for example zero threads).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .invalidLayout(let m): return "invalid layout: \(m)"
        case .outOfBounds(let m): return "out of bounds: \(m)"
        case .shapeMismatch(let m): return "shape mismatch: \(m)"
        case .indexOutOfRange(let m): return "index out of range: \(m)"
        case .overlappingDestination(let m): return "overlapping destination: \(m)"
        case .reshapeNeedsCopy(let m): return "reshape needs a copy: \(m)"
        case .unsupportedElement(let m): return "unsupported element: \(m)"
        case .io(let m): return "I/O error: \(m)"
        case .allocationFailed(let m): return "allocation failed: \(m)"
        case .invalidArgument(let m): return "invalid argument: \(m)"
        }
    }
}
