import CRelayoutKernels
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Running a plan: chunks claimed by workers, each chunk's work items walked through the loop nest
// and handed to the kernels, fresh destinations faulted in ahead of the copy, NUMA affinity.
extension CopyPlan {
    /// Runs the plan on storages whose base addresses are given (the layouts' offsets are applied
    /// here). The caller guarantees that both layouts fit their storages and do not overlap.
    public func execute(source: UnsafeRawPointer, destination: UnsafeMutableRawPointer) {
        execute(source: source, destination: destination, freshDestination: false)
    }

    /// `freshDestination`: the destination's pages have never been touched (a new result). The kernel
    /// then faults them in (`MADV_POPULATE_WRITE`) ahead of the copy, which measured faster than
    /// faulting them one store at a time in tile order: on one node by one slot, in destination order,
    /// while the others copy behind it; on several nodes by all workers, each a contiguous share, before
    /// the node lookup.
    func execute(source: UnsafeRawPointer, destination: UnsafeMutableRawPointer, freshDestination: Bool) {
        if freshDestination, let footprint = destinationLayout.span() {
            if workers > 1, chunkCount > 1, Topology.machine.nodes.count <= 1 || !NUMA.isAvailable {
                executePopulatingAhead(source: source, destination: destination, footprint: footprint)
                return
            }
            // Before the node lookup, so that it finds the pages where the workers faulted them.
            Pages.populateForWriting(destination + footprint.lowerBound * elementSize, byteCount: footprint.count * elementSize, workers: workers)
        }
        execute(source: source, destination: destination, affinity: machineAffinity(destination: destination))
    }

    /// A fresh destination on one node: every slot runs one loop that copies the next chunk whose
    /// pages are in and, while none is, faults in the next 2 MiB of the destination (in address
    /// order, at most `populators` slots at a time). The copy thus starts after the first chunk's
    /// pages and the page faults are shared by the slots as the machine allows: on this VM faulting
    /// is the larger half of the work (211 MB: 36 ms on one thread, 17 on two; the copy 20 on two),
    /// so one slot faulting ahead of the others left the copy waiting.
    private func executePopulatingAhead(source: UnsafeRawPointer, destination: UnsafeMutableRawPointer, footprint: ClosedRange<Int>) {
        let pages = Pages.pageBounds(destination + footprint.lowerBound * elementSize, byteCount: footprint.count * elementSize)
        let unit = Storage.hugePageSize
        let firstUnit = pages.start / unit
        let counters = PopulatingCounters()
        let slots = Swift.min(workers, chunkCount)
        withUnsafePointer(to: self) { plan in
            withUnsafePointer(to: counters) { counters in
                let ahead = PopulatingAhead(plan: plan, source: source, destination: destination, counters: counters,
                                            pages: pages, firstUnit: firstUnit, units: (pages.end - 1) / unit - firstUnit + 1,
                                            footprintEnd: ((footprint.upperBound + 1) * elementSize + unitSize - 1) / unitSize, reach: destinationReach,
                                            populators: Swift.max(1, Swift.min(slots, freshPopulators)))
                // The job itself is one pointer, so that the pool keeps it inline (no allocation).
                withUnsafePointer(to: ahead) { ahead in
                    Executor.run(chunks: slots, workers: slots, work: PopulatingChunks(ahead: ahead))
                }
            }
        }
    }

    private struct PopulatingChunks: ChunkedWork {
        let ahead: UnsafePointer<PopulatingAhead>
        func run(chunk: Int, worker: Int) { ahead.pointee.run() }
    }

    /// The shared state of one populating run.
    private struct PopulatingCounters: ~Copyable {
        /// The next 2 MiB unit (from the footprint's first) to fault in, and how many slots are faulting.
        let nextUnit = Atomic<Int>(0), populating = Atomic<Int>(0)
        /// Units in, counted from the first: all units below it are in (`Int.max`: all, or the kernel
        /// cannot populate and the stores fault the pages in as they come).
        let unitsIn = Atomic<Int>(0)
        /// The next chunk to copy.
        let nextChunk = Atomic<Int>(0)
    }

    /// One slot's loop over the work of a populating run (see ``executePopulatingAhead``).
    private struct PopulatingAhead {
        let plan: UnsafePointer<CopyPlan>
        let source: UnsafeRawPointer
        let destination: UnsafeMutableRawPointer
        let counters: UnsafePointer<PopulatingCounters>
        /// Page-aligned addresses of the destination's footprint and its 2 MiB units.
        let pages: (start: Int, end: Int)
        let firstUnit: Int, units: Int
        /// The footprint's end and a work item's destination reach, in the plan's units (``CopyPlan/unitSize``).
        let footprintEnd: Int, reach: Int
        let populators: Int

        func run() {
            let chunks = plan.pointee.chunkCount
            while true {
                let chunk = counters.pointee.nextChunk.load(ordering: .relaxed)
                guard chunk < chunks else { return }
                if unitsNeeded(byChunk: chunk) <= counters.pointee.unitsIn.load(ordering: .acquiring) {
                    if counters.pointee.nextChunk.compareExchange(expected: chunk, desired: chunk + 1, ordering: .relaxed).exchanged {
                        plan.pointee.runChunk(chunk, source: source, destination: destination)
                    }
                    continue
                }
                if populateNextUnit() { continue }
                sched_yield()
            }
        }

        /// How many units (from the first) must be in before chunk `chunk` runs.
        private func unitsNeeded(byChunk chunk: Int) -> Int {
            let end = plan.pointee.destinationEnd(ofChunk: chunk, reach: reach, footprintEnd: footprintEnd)
            let address = Swift.min(pages.end, Int(bitPattern: destination + end * plan.pointee.unitSize))
            return (address - 1) / Storage.hugePageSize - firstUnit + 1
        }

        /// Claims and faults in the next unit if one is left and fewer than `populators` slots are
        /// faulting; false if it did not. Units are published in order: a slot done before the one
        /// faulting the unit below waits for it (a unit's time at most).
        private func populateNextUnit() -> Bool {
            let unit = counters.pointee.nextUnit.load(ordering: .relaxed)
            guard unit < units, counters.pointee.populating.load(ordering: .relaxed) < populators else { return false }
            guard counters.pointee.populating.add(1, ordering: .relaxed).newValue <= populators else {
                counters.pointee.populating.subtract(1, ordering: .relaxed)
                return false
            }
            defer { counters.pointee.populating.subtract(1, ordering: .relaxed) }
            guard counters.pointee.nextUnit.compareExchange(expected: unit, desired: unit + 1, ordering: .relaxed).exchanged else { return true }
            let unitSize = Storage.hugePageSize
            let from = Swift.max(pages.start, (firstUnit + unit) * unitSize)
            guard Pages.populate(from: from, to: Swift.min(pages.end, (firstUnit + unit + 1) * unitSize)) else {
                counters.pointee.unitsIn.store(Int.max, ordering: .releasing)
                return true
            }
            while true {
                let published = counters.pointee.unitsIn.load(ordering: .acquiring)
                if published >= unit { break }
                sched_yield()
            }
            // Int.max (the kernel refused) stays.
            _ = counters.pointee.unitsIn.compareExchange(expected: unit, desired: unit + 1, ordering: .releasing)
            return true
        }
    }

    /// How far past its first destination element a work item writes: a tile's span.
    var destinationReach: Int {
        loops.reduce(0) { reach, loop in loop.extent > 1 ? reach + (loop.extent - 1) * Swift.abs(loop.destinationStep / loop.extent) : reach }
    }

    /// One past the last destination element (offset from the base) that chunk `chunk` writes, at most
    /// `footprintEnd`. The loops go by the destination's strides (it is dense, and they are
    /// positive), so work items start in increasing destination order and every item of the chunk
    /// starts before the next chunk's first and writes at most `reach` (``destinationReach``) beyond
    /// its start. Where the innermost loop follows the source instead, that holds for the other
    /// loops, and the innermost may add up to its whole span.
    func destinationEnd(ofChunk chunk: Int, reach: Int, footprintEnd: Int) -> Int {
        guard chunk + 1 < chunkCount else { return footprintEnd }
        var start = destinationOffset(ofChunk: chunk + 1)
        if innermostFollowsSource, let inner = loops.last {
            start += (inner.count - 1 - (chunk + 1) * itemsPerChunk % inner.count) * inner.destinationStep
        }
        return Swift.min(footprintEnd, start + reach + 1)
    }

    /// Runs with chunks grouped by node as `affinity` says (tests inject other machines' topologies).
    func execute(source: UnsafeRawPointer, destination: UnsafeMutableRawPointer, affinity: NodeAffinity?) {
        withUnsafePointer(to: self) { plan in
            Executor.run(chunks: chunkCount, workers: workers, affinity: affinity, work: Chunks(plan: plan, source: source, destination: destination))
        }
    }

    /// Runs the plan from `source` into `destination`, checking that their layouts are the planned
    /// ones and that they do not overlap.
    public func execute(from source: RawTensor, into destination: RawTensor) throws {
        guard source.layout == sourceLayout, destination.layout == destinationLayout, source.elementSize == elementSize, destination.elementSize == elementSize else {
            throw RelayoutError.shapeMismatch("plan for \(sourceLayout) → \(destinationLayout) run on \(source.layout) → \(destination.layout)")
        }
        guard !source.mayOverlap(destination) else {
            throw RelayoutError.overlappingDestination("a plan runs on non-overlapping tensors; use copy(from:) for overlapping ones")
        }
        execute(source: UnsafeRawPointer(source.storage.baseAddress), destination: destination.storage.baseAddress)
    }

    /// The plan's chunks as `ChunkedWork`: three words, so publishing it to the workers allocates
    /// nothing. Not generic on purpose: the worker pool calls `run` through an existential, and a
    /// generic witness runs the element loops unspecialised (fill and gather measured 10x slower).
    private struct Chunks: ChunkedWork {
        let plan: UnsafePointer<CopyPlan>
        let source: UnsafeRawPointer
        let destination: UnsafeMutableRawPointer
        func run(chunk: Int, worker: Int) { plan.pointee.runChunk(chunk, source: source, destination: destination) }
    }

    /// One chunk, with the element type fixed here so that every loop below is specialised.
    private func runChunk(_ chunk: Int, source: UnsafeRawPointer, destination: UnsafeMutableRawPointer) {
        func typed<T>(_: T.Type) {
            runChunk(chunk, source.assumingMemoryBound(to: T.self), destination.assumingMemoryBound(to: T.self))
        }
        switch unitSize {
        case 1: typed(UInt8.self)
        case 2: typed(UInt16.self)
        case 4: typed(UInt32.self)
        case 8: typed(UInt64.self)
        default: typed(SIMD2<UInt64>.self)
        }
    }

    /// The destination element offset of each chunk's first work item.
    func chunkDestinationOffsets() -> [Int] {
        (0..<chunkCount).map(destinationOffset(ofChunk:))
    }

    /// The destination element offset of chunk `chunk`'s first work item.
    func destinationOffset(ofChunk chunk: Int) -> Int {
        destinationOffset(ofItem: chunk * itemsPerChunk)
    }

    /// The destination element offset of work item `item`'s first element.
    func destinationOffset(ofItem item: Int) -> Int {
        var remainder = item
        var to = destinationOffset
        for l in stride(from: loops.count - 1, through: 0, by: -1) {
            to += (remainder % loops[l].count) * loops[l].destinationStep
            remainder /= loops[l].count
        }
        return to
    }

    /// On a machine with several NUMA nodes (and only there): where each chunk's destination pages
    /// are. Pages not yet faulted in go to nodes in contiguous blocks of chunks, so the workers of
    /// node k fault them in on node k, and later runs of the same plan find them there.
    func machineAffinity(destination: UnsafeMutableRawPointer) -> NodeAffinity? {
        let topology = Topology.machine
        guard workers > 1, topology.nodes.count > 1, NUMA.isAvailable else { return nil }
        let ids = topology.nodes.map(\.id)
        let index = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        let chunks = chunkCount
        let addresses = chunkDestinationOffsets().map { UnsafeRawPointer(destination + $0 * unitSize) }
        let found = NUMA.nodes(ofAddresses: addresses)
        let nodes = (0..<chunks).map { chunk -> Int in
            if let node = found?[chunk], let k = index[node] { return k }
            return chunk * ids.count / Swift.max(chunks, 1)
        }
        return NodeAffinity(nodeCount: ids.count, chunkNodes: nodes, distances: topology.distances) { _ in
            NUMA.currentCPU.flatMap { topology.node(ofCPU: $0) }.flatMap { index[$0] } ?? 0
        }
    }

    /// RL_TRANSPOSE_ROWS_BEFORE / _AFTER for the tile at `alongIndex` of the along loop: whether the
    /// tiles before and after it in the same plane hold RL_NEIGHBOUR_ROWS rows or more, which the tile
    /// may read to stream its rows' shared lines whole (see CRelayoutKernels.h).
    @inline(__always)
    private func neighbourRowFlags(_ alongIndex: Int, _ loops: UnsafeBufferPointer<Loop>) -> Int32 {
        guard streaming else { return 0 }
        let loop = loops[alongLoop]
        let rowsBefore = alongIndex * loop.extent
        let rowsAfter = alongIndex == loop.count - 1 ? 0 : (loop.count - 2 - alongIndex) * loop.extent + loop.lastExtent
        var flags: Int32 = 0
        if rowsBefore >= Int(RL_NEIGHBOUR_ROWS) { flags |= Int32(RL_TRANSPOSE_ROWS_BEFORE) }
        if rowsAfter >= Int(RL_NEIGHBOUR_ROWS) { flags |= Int32(RL_TRANSPOSE_ROWS_AFTER) }
        return flags
    }

    /// RL_TRANSPOSE_LINES_BEFORE / _AFTER for the tile at `alongIndex` of the along loop, into `d`
    /// with rows `dstAcross` apart: which of two neighbouring tiles writes the lines their rows share
    /// (see CRelayoutKernels.h). The tiles before and after it in the plane sit `extent` rows away
    /// (the last one `lastExtent` long), and each asks the same question of the pair.
    @inline(__always)
    private func sharedLineFlags<T>(_ d: UnsafeMutablePointer<T>, _ dstAcross: Int, _ nA: Int, _ nB: Int, _ flags: Int32, _ alongIndex: Int,
                                    _ loops: UnsafeBufferPointer<Loop>) -> Int32 {
        guard streaming, alongLoop >= 0 else { return 0 }
        let loop = loops[alongLoop]
        let before = alongIndex > 0 ? loop.extent : 0
        let after = alongIndex >= loop.count - 1 ? 0 : (alongIndex == loop.count - 2 ? loop.lastExtent : loop.extent)
        guard before > 0 || after > 0 else { return 0 }
        return Int32(rl_transpose_tile_line_flags(along.source, d, dstAcross, nA, nB, MemoryLayout<T>.stride, flags, before, after))
    }

    /// One tile of ``Kernel/permutedBlocks``: nB2 rows of nA2 blocks of nA elements each.
    @inline(__always)
    private func permuteBlocks<T>(_ s: UnsafePointer<T>, _ d: UnsafeMutablePointer<T>, _ nA: Int, _ nA2: Int, _ nB2: Int) {
        let size = MemoryLayout<T>.stride
        blockPermutation.withUnsafeBufferPointer { permutation in
            blockTable.withUnsafeBytes { table in
                for b2 in 0..<nB2 {
                    rl_permute_blocks(s + b2 * across2.source, along2.source * size, d + b2 * across2.destination, along2.destination * size,
                                      nA2, nA, permutation.baseAddress, table.isEmpty ? nil : table.baseAddress, size, streaming ? 1 : 0)
                }
            }
        }
    }

    /// Walks the work items of one chunk with an odometer over the loop nest.
    @inline(__always)
    private func runChunk<T>(_ chunk: Int, _ source: UnsafePointer<T>, _ destination: UnsafeMutablePointer<T>) {
        let begin = chunk * itemsPerChunk
        let end = Swift.min(begin + itemsPerChunk, workItems)
        loops.withUnsafeBufferPointer { loops in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: Swift.max(loops.count, 1)) { index in
                var remainder = begin
                var from = sourceOffset, to = destinationOffset
                for l in stride(from: loops.count - 1, through: 0, by: -1) {
                    index[l] = remainder % loops[l].count
                    remainder /= loops[l].count
                    from += index[l] * loops[l].sourceStep
                    to += index[l] * loops[l].destinationStep
                }
                for _ in begin..<end {
                    @inline(__always) func extent(_ l: Int) -> Int {
                        l < 0 ? 1 : (index[l] == loops[l].count - 1 ? loops[l].lastExtent : loops[l].extent)
                    }
                    let nA = extent(alongLoop), nA2 = extent(along2Loop), nB = extent(acrossLoop), nB2 = extent(across2Loop)
                    let s = source + from, d = destination + to
                    switch kernel {
                    case .bulk:
                        let size = MemoryLayout<T>.stride
                        rl_copy_run_tile(s, along2.source * size, across2.source * size, d, along2.destination * size, across2.destination * size,
                                         nA2, nB2, nA * size, streaming ? 1 : 0)
                    case .flippedRuns:
                        let size = MemoryLayout<T>.stride
                        // 0 where the CPU no longer offers the run transposes (VBMI turned off
                        // after planning): then the permuted blocks take the tile.
                        if rl_transpose_flipped_runs(s, along2.source * size, across2.source * size, d, across2.destination * size,
                                                     nA2, nB2, nA * size, size, streaming ? 1 : 0) == 0 {
                            permuteBlocks(s, d, nA, nA2, nB2)
                        }
                    case .permutedBlocks:
                        permuteBlocks(s, d, nA, nA2, nB2)
                    case .gather, .fill:
                        Kernels.strided(s, along.source, d, along.destination, nA)
                    case .transpose where grouped.along || grouped.across:
                        // One call per tile: the grouped sides become rows of one 2-D transpose.
                        let size = MemoryLayout<T>.stride
                        for a2 in 0..<(grouped.along ? 1 : nA2) {
                            for b2 in 0..<(grouped.across ? 1 : nB2) {
                                let s = s + a2 * along2.source + b2 * across2.source
                                let d = d + a2 * along2.destination + b2 * across2.destination
                                let rows = rl_row_group(count: nA, count2: grouped.along ? nA2 : 1, count3: extent(along3Loop),
                                                        stride: along.source, stride2: along2.source, stride3: along3.source)
                                let columns = rl_row_group(count: nB, count2: grouped.across ? nB2 : 1, count3: extent(across3Loop),
                                                           stride: across.destination, stride2: across2.destination, stride3: across3.destination)
                                rl_transpose_tile_grouped(s, rows, d, columns, size, transposeFlags)
                            }
                        }
                    case .transpose:
                        let flags = (registerTranspose || flipsAcross) && alongLoop >= 0 ? transposeFlags | neighbourRowFlags(index[alongLoop], loops) : transposeFlags
                        for a2 in 0..<nA2 {
                            for b2 in 0..<nB2 {
                                let s = s + a2 * along2.source + b2 * across2.source
                                let d = d + a2 * along2.destination + b2 * across2.destination
                                let size = MemoryLayout<T>.stride
                                if registerTranspose {
                                    let lines = sharedLineFlags(d, across.destination, nA, nB, flags, alongLoop >= 0 ? index[alongLoop] : 0, loops)
                                    rl_transpose_tile(s, along.source, d, across.destination, nA, nB, size, flags | lines)
                                } else if flipsAcross {
                                    // Planes into pixels with the planes' rows read backwards go to
                                    // their own kernel; every other tile is turned round.
                                    if across.destination != nA || rl_interleave_reversed_planes(s, along.source, d, nA, nB, size, streaming ? 1 : 0) == 0 {
                                        let d = d + (nB - 1) * across.destination
                                        let lines = sharedLineFlags(d, -across.destination, nA, nB, flags, alongLoop >= 0 ? index[alongLoop] : 0, loops)
                                        rl_transpose_tile(s - (nB - 1), along.source, d, -across.destination, nA, nB, size, flags | lines)
                                    }
                                } else if along.destination == 1,
                                          rl_transpose_tile_spaced(s, along.source, across.source, d, across.destination, nA, nB, size, transposeFlags) != 0 {
                                    // Every k-th column (a downsample with a change of layout): packed
                                    // into a stage, then the register transposes.
                                } else {
                                    Kernels.tile(s, along.source, across.source, d, along.destination, across.destination, nA, nB)
                                }
                            }
                        }
                    }
                    var l = loops.count - 1
                    while l >= 0 {
                        index[l] += 1
                        from += loops[l].sourceStep
                        to += loops[l].destinationStep
                        if index[l] < loops[l].count { break }
                        from -= loops[l].sourceStep * loops[l].count
                        to -= loops[l].destinationStep * loops[l].count
                        index[l] = 0
                        l -= 1
                    }
                }
                if streaming { rl_store_fence() }
            }
        }
    }
}

extension CopyPlan: CustomStringConvertible {
}
