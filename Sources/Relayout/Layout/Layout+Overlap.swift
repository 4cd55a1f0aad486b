extension Layout {
    /// The largest span (in elements) for which ``writesSomeElementTwice()`` runs its exact check.
    static let exactOverlapCheckLimit = 1 << 28

    /// Whether two different indices of the view reach the same storage element.
    ///
    /// Most layouts are settled by a sufficient test (sorted by stride, each stride clears the reach of
    /// all smaller ones); the rest, such as interleaved strides, by marking every element in a bitmap of
    /// the span. A span too large for that throws rather than guess.
    public func writesSomeElementTwice() throws -> Bool {
        if isEmpty || isContiguous || isChannelsLastContiguous { return false }
        let axes = (0..<rank).filter { shape[$0] > 1 }
        if axes.contains(where: { strides[$0] == 0 }) { return true }
        let sorted = axes.sorted { abs(strides[$0]) < abs(strides[$1]) }
        var reach = 0
        var separated = true
        for axis in sorted {
            if abs(strides[axis]) <= reach { separated = false; break }
            reach += abs(strides[axis]) * (shape[axis] - 1)
        }
        if separated { return false }
        guard let span = span() else { return true }
        let width = span.upperBound - span.lowerBound + 1
        if count > width { return true }
        guard width <= Layout.exactOverlapCheckLimit else {
            throw RelayoutError.overlappingDestination("cannot prove that shape \(shape) with strides \(strides) reaches each element once (span of \(width) elements is too large to check)")
        }
        var marks = [UInt64](repeating: 0, count: (width + 63) / 64)
        var index = [Int](repeating: 0, count: rank)
        var position = offset - span.lowerBound
        for _ in 0..<count {
            let word = position >> 6, bit = UInt64(1) << UInt64(position & 63)
            if marks[word] & bit != 0 { return true }
            marks[word] |= bit
            var axis = rank - 1
            while axis >= 0 {
                index[axis] += 1
                position += strides[axis]
                if index[axis] < shape[axis] { break }
                position -= strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return false
    }
}
