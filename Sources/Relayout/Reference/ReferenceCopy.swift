/// The obviously correct copy: one element at a time, in logical row-major order, with an odometer
/// over the multi-index. It is the oracle the fast engine is tested against; keep it simple.
public enum ReferenceCopy {
    /// Copies every element of `sourceLayout` at `source` to the same multi-index of
    /// `destinationLayout` at `destination`. Both layouts must have the same shape; the pointers are the
    /// storages' base addresses (the layouts' offsets are applied here). No overlap handling.
    public static func copy(
        from source: UnsafeRawPointer, layout sourceLayout: Layout,
        to destination: UnsafeMutableRawPointer, layout destinationLayout: Layout,
        elementSize: Int
    ) {
        precondition(sourceLayout.shape == destinationLayout.shape, "reference copy needs equal shapes")
        let shape = sourceLayout.shape
        if shape.contains(0) { return }
        let rank = shape.count
        var index = [Int](repeating: 0, count: rank)
        var from = sourceLayout.offset, to = destinationLayout.offset
        for _ in 0..<sourceLayout.count {
            (destination + to * elementSize).copyMemory(from: source + from * elementSize, byteCount: elementSize)
            var axis = rank - 1
            while axis >= 0 {
                index[axis] += 1
                from += sourceLayout.strides[axis]
                to += destinationLayout.strides[axis]
                if index[axis] < shape[axis] { break }
                from -= sourceLayout.strides[axis] * shape[axis]
                to -= destinationLayout.strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}
