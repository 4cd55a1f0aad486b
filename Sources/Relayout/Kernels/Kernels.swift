import CRelayoutKernels

/// Leaf routines on raw pointers: no allocation, no bounds checks, no threads.
enum Kernels {
    /// Whether transposes may run the C kernels' AVX-512 paths (the wide, skewed, narrow-wide and
    /// channel walks, and the AVX-512 build of the 1- and 2-byte blocks) where the CPU has it (the
    /// default); tests turn it off to check the paths of a CPU without AVX-512 on such a CPU.
    static func allowAVX512Transposes(_ allowed: Bool) { rl_set_avx512_allowed(allowed ? 1 : 0) }

    /// Whether the kernels that also need AVX-512 VBMI may run where the CPU has it (the default);
    /// tests turn it off to check the paths of a CPU with AVX-512BW but no VBMI.
    static func allowAVX512VBMI(_ allowed: Bool) { rl_set_avx512_vbmi_allowed(allowed ? 1 : 0) }

    /// Whether tiles of runs of 3 to 31 bytes across each other are transposed in registers here
    /// (AVX-512BW and VBMI, neither turned off), and so planned as bands that stream.
    static var transposesShortRuns: Bool { rl_short_runs_transpose(3) != 0 }

    /// Whether the kernels without AVX-512 may run their AVX2 builds where the CPU has it (the
    /// default): the staged walk's 1-, 2- and 4-byte steps, its rotated joins of 2-, 4- and 8-byte rows
    /// inside lines, the joined row walk; tests turn it off to check the 16-byte builds on such a CPU.
    static func allowAVX2(_ allowed: Bool) { rl_set_avx2_allowed(allowed ? 1 : 0) }

    /// `count` elements along one dimension with arbitrary strides (a stride-0 source fills).
    @inline(__always)
    static func strided<T>(_ source: UnsafePointer<T>, _ sourceStride: Int, _ destination: UnsafeMutablePointer<T>, _ destinationStride: Int, _ count: Int) {
        if destinationStride == 1 {
            if sourceStride == 0 {
                destination.update(repeating: source.pointee, count: count)
            } else if sourceStride == -1 {
                // A row read backwards (a flip): whole registers of elements reversed at a time.
                rl_copy_reversed(destination, source, count, MemoryLayout<T>.stride)
            } else if sourceStride > 1 && sourceStride * MemoryLayout<T>.stride <= 64 && count * MemoryLayout<T>.stride >= 256 {
                // Every k-th element (x[:, ::2]): a register of them packed at a time. Not for rows
                // under 256 bytes, whose few steps do not repay the call (a 16 x 16 f4 transpose on
                // the direct path, rows of 16 elements 64 bytes apart: 3.6 GB/s so, 7.6 by the loop).
                rl_copy_spaced_runs(destination, source, count, MemoryLayout<T>.stride, sourceStride * MemoryLayout<T>.stride)
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

extension Kernels {
    /// A copy too small for planning to pay off: the innermost dimension as a strided loop, an
    /// odometer over the rest, no allocation (the index lives on the stack). Everything fits in L1,
    /// so loop order does not matter here.
    static func direct<T>(_: T.Type, from source: UnsafeRawPointer, _ sourceLayout: Layout, to destination: UnsafeMutableRawPointer, _ destinationLayout: Layout) {
        let shape = destinationLayout.shape
        let rank = shape.count
        let s = source.assumingMemoryBound(to: T.self) + sourceLayout.offset
        let d = destination.assumingMemoryBound(to: T.self) + destinationLayout.offset
        if rank == 0 {
            d.pointee = s.pointee
            return
        }
        let inner = shape[rank - 1]
        let sourceInner = sourceLayout.strides[rank - 1], destinationInner = destinationLayout.strides[rank - 1]
        let rows = destinationLayout.count / Swift.max(inner, 1)
        if rows == 0 || inner == 0 { return }
        sourceLayout.strides.withUnsafeBufferPointer { sourceStrides in
            destinationLayout.strides.withUnsafeBufferPointer { destinationStrides in
                shape.withUnsafeBufferPointer { shape in
                    withUnsafeTemporaryAllocation(of: Int.self, capacity: rank) { index in
                        index.initialize(repeating: 0)
                        var from = 0, to = 0
                        for _ in 0..<rows {
                            strided(s + from, sourceInner, d + to, destinationInner, inner)
                            var axis = rank - 2
                            while axis >= 0 {
                                index[axis] += 1
                                from += sourceStrides[axis]
                                to += destinationStrides[axis]
                                if index[axis] < shape[axis] { break }
                                from -= sourceStrides[axis] * shape[axis]
                                to -= destinationStrides[axis] * shape[axis]
                                index[axis] = 0
                                axis -= 1
                            }
                        }
                    }
                }
            }
        }
    }
}
