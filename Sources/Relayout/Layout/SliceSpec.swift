/// One dimension of a NumPy basic index: a slice `start:stop:step` or a single integer index.
public enum IndexSpec: Hashable, Sendable {
    /// `start:stop:step`; `nil` bounds take NumPy's defaults for the sign of `step`.
    case slice(start: Int?, stop: Int?, step: Int)
    /// An integer index, which drops the dimension; negative values count from the end.
    case index(Int)

    /// The full slice `:`.
    public static let all = IndexSpec.slice(start: nil, stop: nil, step: 1)

    /// Parses NumPy's syntax for one dimension: `3`, `-1`, `:`, `1:5`, `::2`, `::-1`, `-3:`.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingWhitespace()
        let parts = trimmed.split(separator: ":", omittingEmptySubsequences: false).map { String($0).trimmingWhitespace() }
        func integer(_ s: String) throws -> Int? {
            if s.isEmpty { return nil }
            guard let v = Int(s) else { throw RelayoutError.invalidArgument("'\(s)' in index '\(text)' is not an integer") }
            return v
        }
        switch parts.count {
        case 1:
            guard let v = try integer(parts[0]) else { throw RelayoutError.invalidArgument("empty index in '\(text)'") }
            self = .index(v)
        case 2, 3:
            let step = parts.count == 3 ? (try integer(parts[2]) ?? 1) : 1
            guard step != 0 else { throw RelayoutError.invalidArgument("slice step cannot be zero in '\(text)'") }
            self = .slice(start: try integer(parts[0]), stop: try integer(parts[1]), step: step)
        default:
            throw RelayoutError.invalidArgument("'\(text)' is not a slice (too many ':')")
        }
    }

    /// Parses a comma-separated NumPy index such as `::2,1:5,:` or `0,::-1`.
    public static func parseList(_ text: String) throws -> [IndexSpec] {
        let trimmed = text.trimmingWhitespace()
        if trimmed.isEmpty { return [] }
        return try trimmed.split(separator: ",", omittingEmptySubsequences: false).map { try IndexSpec(parsing: String($0)) }
    }
}

/// The first element, element count and step that a slice selects from a dimension of `length`
/// elements, exactly as Python's `slice.indices` computes them.
struct ResolvedSlice: Equatable {
    var start: Int
    var count: Int
    var step: Int

    init(start: Int?, stop: Int?, step: Int, length: Int) {
        func clamp(_ value: Int?, defaultValue: Int) -> Int {
            guard var v = value else { return defaultValue }
            if v < 0 {
                v += length
                if v < 0 { v = step < 0 ? -1 : 0 }
            } else if v >= length {
                v = step < 0 ? length - 1 : length
            }
            return v
        }
        let first = clamp(start, defaultValue: step < 0 ? length - 1 : 0)
        let end = clamp(stop, defaultValue: step < 0 ? -1 : length)
        if step < 0 {
            count = end < first ? (first - end - 1) / (-step) + 1 : 0
        } else {
            count = first < end ? (end - first - 1) / step + 1 : 0
        }
        self.start = first
        self.step = step
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
