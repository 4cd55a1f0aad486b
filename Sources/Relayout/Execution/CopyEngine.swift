/// The single entry point every tensor copy goes through.
enum CopyEngine {
    /// The tuning every copy uses unless a plan is made with another.
    static var tuning: CopyTuning { .active }

    /// The tuning for one copy. `freshDestination`: nothing has touched the destination's pages yet
    /// (a new result), so workers claim larger chunks and fault in different huge pages.
    static func tuning(freshDestination: Bool) -> CopyTuning {
        var tuning = self.tuning
        if freshDestination { tuning.chunkBytes = Swift.max(tuning.chunkBytes, tuning.freshChunkBytes) }
        return tuning
    }

    /// Copies `source` into `destination` (same shape, no overlap between them, destination free of
    /// self-overlap: the caller has checked all three).
    static func copy(from source: RawTensor, into destination: RawTensor, threads: Int?, freshDestination: Bool = false) throws {
        // freshDestination changes only chunk sizes, which direct copies do not have.
        if CopyTuning.activeTakesDirectCopy(bytes: destination.count * destination.elementSize) {
            direct(from: source, into: destination)
            return
        }
        let plan = try self.plan(source: source.layout, destination: destination.layout, elementSize: source.elementSize, threads: threads,
                                 freshDestination: freshDestination)
        plan.execute(source: UnsafeRawPointer(source.storage.baseAddress), destination: destination.storage.baseAddress, freshDestination: freshDestination)
    }

    /// The plan for copying `source` into `destination`, from the plan cache (made and remembered on
    /// a miss).
    static func plan(source: Layout, destination: Layout, elementSize: Int, threads: Int?, freshDestination: Bool = false) throws -> CopyPlan {
        try cachedPlan(source: source, destination: .layout(destination), elementSize: elementSize, threads: threads, freshDestination: freshDestination) {
            destination
        }
    }

    /// The plan for copying `source` into a new tensor dense in `format`; its `destinationLayout` is
    /// the new tensor's layout. Cached, so repeated `contiguous()` calls on one kind of view neither
    /// plan nor build a layout again.
    static func densePlan(source: Layout, format: MemoryFormat, elementSize: Int, threads: Int?, freshDestination: Bool) throws -> CopyPlan {
        try cachedPlan(source: source, destination: .dense(format), elementSize: elementSize, threads: threads, freshDestination: freshDestination) {
            try format.layout(for: source.shape)
        }
    }

    private static func cachedPlan(source: Layout, destination: PlanCache.Key.Destination, elementSize: Int, threads: Int?, freshDestination: Bool,
                                   destinationLayout: () throws -> Layout) throws -> CopyPlan {
        let tuning = tuning(freshDestination: freshDestination)
        let key = PlanCache.Key(source: source, destination: destination, elementSize: elementSize,
                                threads: threads ?? Parallelism.defaultThreadCount, tuning: tuning)
        return try PlanCache.shared.plan(for: key) {
            try CopyPlan(source: source, destination: try destinationLayout(), elementSize: elementSize, tuning: tuning, threads: threads)
        }
    }

    /// Runs `plan` from `source` into `destination`, whose layouts are the plan's; tiny copies take
    /// the plain strided loop instead.
    static func execute(_ plan: CopyPlan, from source: RawTensor, into destination: RawTensor, freshDestination: Bool) {
        if plan.payloadBytes <= tuning.directCopyBytes {
            direct(from: source, into: destination)
        } else {
            plan.execute(source: UnsafeRawPointer(source.storage.baseAddress), destination: destination.storage.baseAddress, freshDestination: freshDestination)
        }
    }

    /// A plain strided loop on the caller's thread: for copies too small to pay for a plan. Inlined
    /// into its callers: passing the two tensors to a call retains and releases their storages and
    /// layout arrays, which measured 50 ns of a 1 KiB copy's 190.
    @inline(__always)
    private static func direct(from source: borrowing RawTensor, into destination: borrowing RawTensor) {
        let s = UnsafeRawPointer(source.storage.baseAddress), d = destination.storage.baseAddress
        switch source.elementSize {
        case 1: Kernels.direct(UInt8.self, from: s, source.layout, to: d, destination.layout)
        case 2: Kernels.direct(UInt16.self, from: s, source.layout, to: d, destination.layout)
        case 4: Kernels.direct(UInt32.self, from: s, source.layout, to: d, destination.layout)
        case 8: Kernels.direct(UInt64.self, from: s, source.layout, to: d, destination.layout)
        default: Kernels.direct(SIMD2<UInt64>.self, from: s, source.layout, to: d, destination.layout)
        }
    }
}
