/// The single entry point every tensor copy goes through.
enum CopyEngine {
    /// The tuning every copy uses unless a plan is made with another.
    static var tuning: CopyTuning { .active }

    /// Copies `source` into `destination` (same shape, no overlap between them, destination free of
    /// self-overlap: the caller has checked all three).
    /// `freshDestination`: nothing has touched the destination's pages yet (a new result), so
    /// workers claim larger chunks and fault in different huge pages.
    static func copy(from source: RawTensor, into destination: RawTensor, threads: Int?, freshDestination: Bool = false) throws {
        var tuning = self.tuning
        if freshDestination { tuning.chunkBytes = Swift.max(tuning.chunkBytes, tuning.freshChunkBytes) }
        if destination.count * destination.elementSize <= tuning.directCopyBytes {
            let s = UnsafeRawPointer(source.storage.baseAddress), d = destination.storage.baseAddress
            switch source.elementSize {
            case 1: Kernels.direct(UInt8.self, from: s, source.layout, to: d, destination.layout)
            case 2: Kernels.direct(UInt16.self, from: s, source.layout, to: d, destination.layout)
            case 4: Kernels.direct(UInt32.self, from: s, source.layout, to: d, destination.layout)
            case 8: Kernels.direct(UInt64.self, from: s, source.layout, to: d, destination.layout)
            default: Kernels.direct(SIMD2<UInt64>.self, from: s, source.layout, to: d, destination.layout)
            }
            return
        }
        let plan = try CopyPlan(source: source.layout, destination: destination.layout, elementSize: source.elementSize, tuning: tuning, threads: threads)
        plan.execute(source: UnsafeRawPointer(source.storage.baseAddress), destination: destination.storage.baseAddress)
    }
}
