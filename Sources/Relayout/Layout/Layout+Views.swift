/// The view algebra: each operation returns a new layout over the same elements, never copying.
extension Layout {
    func checkedAxis(_ axis: Int, rank: Int, _ what: String) throws -> Int {
        let resolved = axis < 0 ? axis + rank : axis
        guard resolved >= 0 && resolved < rank else {
            throw RelayoutError.indexOutOfRange("\(what) axis \(axis) for a view of rank \(rank)")
        }
        return resolved
    }

    /// Reorders the dimensions: dimension `k` of the result is dimension `axes[k]` of this layout
    /// (NumPy's `transpose(axes)`, PyTorch's `permute`).
    public func permuted(_ axes: [Int]) throws -> Layout {
        guard axes.count == rank else {
            throw RelayoutError.invalidArgument("permutation \(axes) has \(axes.count) axes for a view of rank \(rank)")
        }
        var seen = [Bool](repeating: false, count: rank)
        var resolved = [Int]()
        for axis in axes {
            let a = axis < 0 ? axis + rank : axis
            guard a >= 0 && a < rank, !seen[a] else {
                throw RelayoutError.invalidArgument("\(axes) is not a permutation of 0..<\(rank)")
            }
            seen[a] = true
            resolved.append(a)
        }
        return Layout(unchecked: resolved.map { shape[$0] }, strides: resolved.map { strides[$0] }, offset: offset)
    }

    /// Swaps two dimensions.
    public func transposed(_ first: Int, _ second: Int) throws -> Layout {
        let a = try checkedAxis(first, rank: rank, "transpose")
        let b = try checkedAxis(second, rank: rank, "transpose")
        var axes = Array(0..<rank)
        axes.swapAt(a, b)
        return try permuted(axes)
    }

    /// Slices one dimension with NumPy's `start:stop:step` rules (negative steps reverse it).
    public func sliced(axis: Int, start: Int? = nil, stop: Int? = nil, step: Int = 1) throws -> Layout {
        let a = try checkedAxis(axis, rank: rank, "slice")
        guard step != 0 else { throw RelayoutError.invalidArgument("slice step cannot be zero") }
        let r = ResolvedSlice(start: start, stop: stop, step: step, length: shape[a])
        var newShape = shape, newStrides = strides
        newShape[a] = r.count
        newStrides[a] = strides[a] &* step
        let newOffset = r.count > 0 ? offset + r.start * strides[a] : offset
        return Layout(unchecked: newShape, strides: newStrides, offset: newOffset)
    }

    /// Picks one position of a dimension and drops the dimension; negative indices count from the end.
    public func selected(axis: Int, index: Int) throws -> Layout {
        let a = try checkedAxis(axis, rank: rank, "select")
        let i = index < 0 ? index + shape[a] : index
        guard i >= 0 && i < shape[a] else {
            throw RelayoutError.indexOutOfRange("index \(index) for dimension \(a) of size \(shape[a])")
        }
        var newShape = shape, newStrides = strides
        newShape.remove(at: a)
        newStrides.remove(at: a)
        return Layout(unchecked: newShape, strides: newStrides, offset: offset + i * strides[a])
    }

    /// Applies a NumPy basic index (slices and integers, one per leading dimension; the rest are `:`).
    public func indexed(_ specs: [IndexSpec]) throws -> Layout {
        guard specs.count <= rank else {
            throw RelayoutError.indexOutOfRange("\(specs.count) indices for a view of rank \(rank)")
        }
        var result = self
        var axis = 0
        for spec in specs {
            switch spec {
            case let .slice(start, stop, step):
                result = try result.sliced(axis: axis, start: start, stop: stop, step: step)
                axis += 1
            case let .index(i):
                result = try result.selected(axis: axis, index: i)
            }
        }
        return result
    }

    /// Broadcasts to `newShape` (leading dimensions may be added; size-1 dimensions may grow, with
    /// stride 0; `-1` keeps a size), as PyTorch's `expand`.
    public func expanded(to newShape: [Int]) throws -> Layout {
        guard newShape.count >= rank else {
            throw RelayoutError.shapeMismatch("cannot expand shape \(shape) to fewer dimensions \(newShape)")
        }
        let lead = newShape.count - rank
        var outShape = [Int](), outStrides = [Int]()
        for (k, target) in newShape.enumerated() {
            if k < lead {
                guard target >= 0 else { throw RelayoutError.shapeMismatch("size -1 is not allowed for a new leading dimension in \(newShape)") }
                outShape.append(target); outStrides.append(0)
                continue
            }
            let size = shape[k - lead], step = strides[k - lead]
            if target == -1 || target == size {
                outShape.append(size); outStrides.append(step)
            } else if size == 1 && target >= 0 {
                outShape.append(target); outStrides.append(0)
            } else {
                throw RelayoutError.shapeMismatch("cannot expand shape \(shape) to \(newShape): dimension \(k - lead) has size \(size)")
            }
        }
        return try Layout(shape: outShape, strides: outStrides, offset: offset)
    }

    /// Removes size-1 dimensions: all of them, or only `axis` (which must have size 1).
    public func squeezed(axis: Int? = nil) throws -> Layout {
        if let axis {
            let a = try checkedAxis(axis, rank: rank, "squeeze")
            guard shape[a] == 1 else {
                throw RelayoutError.invalidArgument("cannot squeeze dimension \(a) of size \(shape[a])")
            }
            var s = shape, t = strides
            s.remove(at: a); t.remove(at: a)
            return Layout(unchecked: s, strides: t, offset: offset)
        }
        let keep = (0..<rank).filter { shape[$0] != 1 }
        return Layout(unchecked: keep.map { shape[$0] }, strides: keep.map { strides[$0] }, offset: offset)
    }

    /// Inserts a size-1 dimension at `axis` (`0...rank`; negative counts from the end as in PyTorch).
    public func unsqueezed(at axis: Int) throws -> Layout {
        let a = axis < 0 ? axis + rank + 1 : axis
        guard a >= 0 && a <= rank else {
            throw RelayoutError.indexOutOfRange("unsqueeze axis \(axis) for a view of rank \(rank)")
        }
        let step = a < rank ? strides[a] * Swift.max(shape[a], 1) : 1
        var s = shape, t = strides
        s.insert(1, at: a); t.insert(step, at: a)
        return Layout(unchecked: s, strides: t, offset: offset)
    }

    /// Resolves one `-1` in a requested shape against `count` elements.
    static func resolveShape(_ requested: [Int], count: Int, from shape: [Int]) throws -> [Int] {
        var result = requested
        let unknown = requested.indices.filter { requested[$0] == -1 }
        guard unknown.count <= 1, !requested.contains(where: { $0 < -1 }) else {
            throw RelayoutError.invalidArgument("invalid shape \(requested) for reshape")
        }
        let known = requested.filter { $0 != -1 }.reduce(1, *)
        if let u = unknown.first {
            guard known != 0, count % known == 0 else {
                throw RelayoutError.shapeMismatch("cannot reshape \(shape) (\(count) elements) to \(requested)")
            }
            result[u] = count / known
        }
        guard result.reduce(1, *) == count else {
            throw RelayoutError.shapeMismatch("cannot reshape \(shape) (\(count) elements) to \(requested)")
        }
        return result
    }

    /// Reshapes without copying, or throws ``RelayoutError/reshapeNeedsCopy(_:)`` when the strides
    /// cannot express the new shape (then make the view contiguous first). One size may be `-1`.
    public func reshaped(_ requested: [Int]) throws -> Layout {
        let newShape = try Layout.resolveShape(requested, count: count, from: shape)
        guard let newStrides = Layout.viewStrides(oldShape: shape, oldStrides: strides, newShape: newShape) else {
            throw RelayoutError.reshapeNeedsCopy("shape \(shape) with strides \(strides) cannot be viewed as \(newShape)")
        }
        return try Layout(shape: newShape, strides: newStrides, offset: offset)
    }

    /// Strides that view `oldShape/oldStrides` as `newShape`, or nil: walk groups of old dimensions
    /// that are contiguous with each other and split each group into new dimensions of equal count.
    static func viewStrides(oldShape: [Int], oldStrides: [Int], newShape: [Int]) -> [Int]? {
        if oldShape.contains(0) || oldShape.allSatisfy({ $0 == 1 }) {
            return rowMajorStrides(newShape)
        }
        var newStrides = [Int](repeating: 0, count: newShape.count)
        var viewAxis = newShape.count - 1
        var baseStride = oldStrides[oldShape.count - 1]
        var groupCount = 1, viewCount = 1
        for axis in stride(from: oldShape.count - 1, through: 0, by: -1) {
            groupCount *= oldShape[axis]
            let groupEnds = axis == 0 || (oldShape[axis - 1] != 1 && oldStrides[axis - 1] != groupCount * baseStride)
            if groupEnds {
                while viewAxis >= 0 && (viewCount < groupCount || newShape[viewAxis] == 1) {
                    newStrides[viewAxis] = viewCount * baseStride
                    viewCount *= newShape[viewAxis]
                    viewAxis -= 1
                }
                if viewCount != groupCount { return nil }
                if axis > 0 {
                    baseStride = oldStrides[axis - 1]
                    groupCount = 1
                    viewCount = 1
                }
            }
        }
        return viewAxis == -1 ? newStrides : nil
    }
}
