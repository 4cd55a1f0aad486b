/// Leaf routines on raw pointers: no allocation, no bounds checks, no threads.
enum Kernels {
    /// `count` elements along one dimension with arbitrary strides (a stride-0 source fills).
    @inline(__always)
    static func strided<T>(_ source: UnsafePointer<T>, _ sourceStride: Int, _ destination: UnsafeMutablePointer<T>, _ destinationStride: Int, _ count: Int) {
        if destinationStride == 1 {
            if sourceStride == 0 {
                destination.update(repeating: source.pointee, count: count)
            } else {
                for i in 0..<count { destination[i] = source[i * sourceStride] }
            }
        } else {
            for i in 0..<count { destination[i * destinationStride] = source[i * sourceStride] }
        }
    }

    /// One 2-D tile: `alongCount` elements along the destination's fast dimension by `acrossCount`
    /// along the source's fast dimension. The tile fits in L1, so the strided side of each access hits
    /// cache lines the other side just brought in.
    @inline(__always)
    static func tile<T>(
        _ source: UnsafePointer<T>, _ sourceAlong: Int, _ sourceAcross: Int,
        _ destination: UnsafeMutablePointer<T>, _ destinationAlong: Int, _ destinationAcross: Int,
        _ alongCount: Int, _ acrossCount: Int
    ) {
        if destinationAlong == 1 {
            for b in 0..<acrossCount {
                let d = destination + b * destinationAcross
                let s = source + b * sourceAcross
                for a in 0..<alongCount { d[a] = s[a * sourceAlong] }
            }
        } else {
            for b in 0..<acrossCount {
                let d = destination + b * destinationAcross
                let s = source + b * sourceAcross
                for a in 0..<alongCount { d[a * destinationAlong] = s[a * sourceAlong] }
            }
        }
    }
}
