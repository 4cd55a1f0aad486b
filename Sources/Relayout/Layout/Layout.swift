/// The shape, strides and offset of a strided view, in elements.
///
/// A layout maps a multi-index `i` to the storage element `offset + Σ i[k] * strides[k]`.
/// Strides may be negative (a reversed axis) or zero (a broadcast axis). A layout holds no memory;
/// ``Tensor`` checks that the elements it reaches lie inside its storage.
public struct Layout: Hashable, Sendable, CustomStringConvertible {
    /// The extent of each dimension, outermost first.
    public let shape: [Int]
    /// The step in elements between neighbours along each dimension.
    public let strides: [Int]
    /// The storage element of the index `(0, 0, …)`.
    public let offset: Int

    /// Creates a layout, checking that sizes are non-negative, that shape and strides have the same
    /// rank, and that the element count does not overflow.
    public init(shape: [Int], strides: [Int], offset: Int = 0) throws {
        guard shape.count == strides.count else {
            throw RelayoutError.invalidLayout("shape \(shape) has rank \(shape.count) but strides \(strides) have rank \(strides.count)")
        }
        if let bad = shape.first(where: { $0 < 0 }) {
            throw RelayoutError.invalidLayout("negative size \(bad) in shape \(shape)")
        }
        var count = 1
        for size in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw RelayoutError.invalidLayout("element count of shape \(shape) overflows") }
            count = product
        }
        self.shape = shape
        self.strides = strides
        self.offset = offset
        guard count == 0 || span() != nil else {
            throw RelayoutError.invalidLayout("strides \(strides) with shape \(shape) overflow the address range")
        }
    }

    /// Creates a layout without validation; callers guarantee the invariants.
    @usableFromInline
    init(unchecked shape: [Int], strides: [Int], offset: Int) {
        self.shape = shape
        self.strides = strides
        self.offset = offset
    }

    /// A dense row-major (C order) layout of `shape`.
    public static func rowMajor(_ shape: [Int]) throws -> Layout {
        try Layout(shape: shape, strides: rowMajorStrides(shape), offset: 0)
    }

    /// A dense column-major (Fortran order) layout of `shape`.
    public static func columnMajor(_ shape: [Int]) throws -> Layout {
        let reversed = rowMajorStrides(shape.reversed())
        return try Layout(shape: shape, strides: reversed.reversed(), offset: 0)
    }

    /// Row-major strides of `shape`; size-0 and size-1 dimensions count as size 1 so strides stay positive.
    public static func rowMajorStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = step
            step &*= Swift.max(shape[axis], 1)
        }
        return strides
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// Whether the view holds no element.
    public var isEmpty: Bool { shape.contains(0) }

    /// Row-major contiguity by PyTorch's rule: size-1 dimensions ignore their stride, and an empty view
    /// is contiguous whatever its strides.
    public var isContiguous: Bool {
        if isEmpty { return true }
        var expected = 1
        for axis in stride(from: rank - 1, through: 0, by: -1) where shape[axis] != 1 {
            guard strides[axis] == expected else { return false }
            expected *= shape[axis]
        }
        return true
    }

    /// Whether memory is in channels-last order (NHWC for 4-D, NDHWC for 5-D), by PyTorch's rule.
    public var isChannelsLastContiguous: Bool {
        guard let order = Layout.channelsLastOrder(rank: rank) else { return false }
        if isEmpty { return true }
        var expected = 1
        for axis in order.reversed() where shape[axis] != 1 {
            guard strides[axis] == expected else { return false }
            expected *= shape[axis]
        }
        return true
    }

    /// The dimension order, outermost first, of channels-last memory for a logical NCHW / NCDHW view
    /// (`[0, 2, 3, 1]`, `[0, 2, 3, 4, 1]`), or nil for other ranks.
    public static func channelsLastOrder(rank: Int) -> [Int]? {
        switch rank {
        case 4: return [0, 2, 3, 1]
        case 5: return [0, 2, 3, 4, 1]
        default: return nil
        }
    }

    /// A dense channels-last layout of a 4-D or 5-D `shape`.
    public static func channelsLast(_ shape: [Int]) throws -> Layout {
        guard let order = channelsLastOrder(rank: shape.count) else {
            throw RelayoutError.invalidArgument("channels-last needs a 4-D or 5-D shape, got \(shape)")
        }
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for axis in order.reversed() {
            strides[axis] = step
            step &*= Swift.max(shape[axis], 1)
        }
        return try Layout(shape: shape, strides: strides, offset: 0)
    }

    /// Whether the view covers a dense block of `count` elements with no element reached twice, in some
    /// order of its dimensions (PyTorch's "non-overlapping and dense"). Strides must be non-negative.
    public var isNonOverlappingAndDense: Bool {
        if isEmpty { return true }
        let axes = (0..<rank).filter { shape[$0] != 1 }.sorted { strides[$0] < strides[$1] }
        var expected = 1
        for axis in axes {
            guard strides[axis] == expected else { return false }
            expected *= shape[axis]
        }
        return true
    }

    /// The lowest and highest storage element the view reaches, or `nil` for an empty view or one
    /// whose address arithmetic overflows.
    public func span() -> ClosedRange<Int>? {
        if isEmpty { return nil }
        var low = offset, high = offset
        for axis in 0..<rank where shape[axis] > 1 {
            let (reach, overflow) = strides[axis].multipliedReportingOverflow(by: shape[axis] - 1)
            if overflow { return nil }
            if reach < 0 {
                let (sum, o) = low.addingReportingOverflow(reach)
                if o { return nil }
                low = sum
            } else {
                let (sum, o) = high.addingReportingOverflow(reach)
                if o { return nil }
                high = sum
            }
        }
        return low...high
    }

    /// The storage element of a multi-index; no checks (for tests and the reference copy).
    @inlinable
    public func elementIndex(_ index: [Int]) -> Int {
        var position = offset
        for axis in 0..<index.count { position += index[axis] * strides[axis] }
        return position
    }

    public var description: String {
        "Layout(shape: \(shape), strides: \(strides), offset: \(offset))"
    }
}
