import XCTest
@testable import Relayout
import CRelayoutKernels

/// The engine against the reference copy on thousands of random layouts.
final class EngineTests: XCTestCase {
    /// Tiny tiles and chunks, no inline threshold: every path (tails, many chunks, several workers)
    /// runs on small tensors.
    static let smallTuning = CopyTuning(
        tiles: [1: .init(along: 5, across: 7), 2: .init(along: 8, across: 4), 4: .init(along: 4, across: 4), 8: .init(along: 3, across: 5), 16: .init(along: 2, across: 2)],
        runBytes: 24, chunkBytes: 64, inlineThresholdBytes: 0, streamingThresholdBytes: Int.max)

    /// Streaming stores from the first byte, and tiles large enough to fill whole lines (one worker,
    /// so the planner keeps the tiles whole).
    static let streamingTuning = CopyTuning(
        tiles: [1: .init(along: 256, across: 32), 2: .init(along: 128, across: 16), 4: .init(along: 64, across: 8), 8: .init(along: 32, across: 4), 16: .init(along: 16, across: 4)],
        runBytes: 4096, runTileAreaBytes: 1024, chunkBytes: 4096, inlineThresholdBytes: 1 << 20, streamingThresholdBytes: 0)

    static let sizes = [1, 1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 31, 33]

    /// A random view of a random storage: random shape, permutation, steps (negative too), offsets and
    /// broadcast dimensions.
    static func randomSource(rank: Int, elementSize: Int, using rng: inout SeededGenerator) throws -> RawTensor {
        var shape = (0..<rank).map { _ in sizes.randomElement(using: &rng)! }
        while shape.reduce(1, *) > 1500 { shape[Int.random(in: 0..<rank, using: &rng)] = Int.random(in: 1...3, using: &rng) }
        let steps = shape.map { _ in [1, 1, 1, 2, -1, -2].randomElement(using: &rng)! }
        let base = zip(shape, steps).map { $0 * abs($1) + Int.random(in: 0...1, using: &rng) }
        let storage = try RawTensor(shape: base, elementSize: elementSize)
        fillRandom(storage.storage, using: &rng)
        var view = storage
        for axis in 0..<rank {
            let step = steps[axis]
            let extent = shape[axis] * abs(step)
            let start = Int.random(in: 0...(base[axis] - extent), using: &rng)
            view = step > 0
                ? try view.sliced(axis: axis, start: start, stop: start + extent, step: step)
                : try view.sliced(axis: axis, start: start + extent - 1, stop: start == 0 ? nil : start - 1, step: step)
        }
        view = try view.permuted(Array(0..<rank).shuffled(using: &rng))
        if Bool.random(using: &rng), let axis = view.shape.indices.randomElement(using: &rng) {
            // Broadcast one dimension: select one position, then expand it back.
            var target = view.shape
            let size = target[axis]
            view = try view.sliced(axis: axis, start: 0, stop: 1)
            target[axis] = size
            view = try view.expanded(to: target)
        }
        return view
    }

    /// A random destination of `shape`: a dense layout in a random dimension order, sometimes stepped
    /// or reversed, inside a larger storage filled with garbage.
    static func randomDestination(shape: [Int], elementSize: Int, using rng: inout SeededGenerator) throws -> RawTensor {
        let order = Array(0..<shape.count).shuffled(using: &rng)
        let step = Bool.random(using: &rng) ? 1 : [2, -1, -2].randomElement(using: &rng)!
        var baseShape = order.map { shape[$0] }
        let last = baseShape.count - 1
        baseShape[last] *= abs(step)
        let storage = try RawTensor(shape: baseShape, elementSize: elementSize)
        fillRandom(storage.storage, using: &rng)
        var view = try storage.sliced(axis: last, step: step)
        if abs(step) == 2 { view = try view.sliced(axis: last, stop: shape[order[last]]) }
        var inverse = [Int](repeating: 0, count: order.count)
        for (k, axis) in order.enumerated() { inverse[axis] = k }
        return try view.permuted(inverse)
    }

    static func fillRandom(_ storage: Storage, using rng: inout SeededGenerator) {
        var word = 0
        while word * 8 < storage.byteCount {
            let value = rng.next()
            withUnsafeBytes(of: value) { bytes in
                for k in 0..<Swift.min(8, storage.byteCount - word * 8) { storage.baseAddress.storeBytes(of: bytes[k], toByteOffset: word * 8 + k, as: UInt8.self) }
            }
            word += 1
        }
    }

    static func bytes(_ t: RawTensor) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: t.storage.baseAddress, count: t.storage.byteCount))
    }

    /// The destination's whole storage after the reference copy, for comparison.
    /// Compares without printing megabytes on failure: the first differing byte and the count.
    static func assertSameBytes(_ tensor: RawTensor, _ expected: [UInt8], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        let actual = bytes(tensor)
        guard actual != expected else { return }
        let differing = (0..<Swift.min(actual.count, expected.count)).filter { actual[$0] != expected[$0] }
        XCTFail("\(label): \(differing.count) of \(expected.count) bytes differ, first at \(differing.first ?? -1)", file: file, line: line)
    }

    /// Plans `view` into a fresh row-major tensor with `tuning` on `threads`, checks that the plan is
    /// a streamed transpose, runs it and compares every byte with the reference copy.
    static func assertStreamedTransposeMatchesReference(_ view: RawTensor, tuning: CopyTuning, threads: Int, _ label: String,
                                                        file: StaticString = #filePath, line: UInt = #line) throws {
        let destination = try RawTensor(shape: view.shape, elementSize: view.elementSize)
        let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: view.elementSize, tuning: tuning, threads: threads)
        let label = "\(label): \(plan)"
        XCTAssertEqual(plan.kernel, .transpose, label, file: file, line: line)
        XCTAssertTrue(plan.streaming, label, file: file, line: line)
        try plan.execute(from: view, into: destination)
        assertSameBytes(destination, try referenceResult(view, destination), label, file: file, line: line)
    }

    static func referenceResult(_ source: RawTensor, _ destination: RawTensor) throws -> [UInt8] {
        let twin = try RawTensor(storage: Storage(byteCount: destination.storage.byteCount), layout: destination.layout, elementSize: destination.elementSize)
        twin.storage.baseAddress.copyMemory(from: destination.storage.baseAddress, byteCount: destination.storage.byteCount)
        ReferenceCopy.copy(from: source.storage.baseAddress, layout: source.layout, to: twin.storage.baseAddress, layout: twin.layout, elementSize: source.elementSize)
        return bytes(twin)
    }

    func testEngineMatchesReferenceOnRandomLayouts() throws {
        var rng = SeededGenerator(seed: 42)
        var kernels = [CopyPlan.Kernel: Int]()
        var streamed = 0, groupedAlong = 0, groupedAcross = 0, followingSource = 0
        for trial in 0..<4000 {
            let elementSize = [1, 2, 4, 8, 16][trial % 5]
            let rank = 1 + (trial / 5) % 8
            let source = try Self.randomSource(rank: rank, elementSize: elementSize, using: &rng)
            let destination = try Self.randomDestination(shape: source.shape, elementSize: elementSize, using: &rng)
            let expected = try Self.referenceResult(source, destination)
            let threads = 1 + trial % 8
            var tuning = trial % 3 == 2 ? Self.streamingTuning : Self.smallTuning
            tuning.followsSourceRows = trial % 4 != 1
            let plan = try CopyPlan(source: source.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: threads)
            kernels[plan.kernel, default: 0] += 1
            if plan.innermostFollowsSource { followingSource += 1 }
            if plan.streaming { streamed += 1 }
            if plan.tileShape.along2 > 1 { groupedAlong += 1 }
            if plan.tileShape.across2 > 1 { groupedAcross += 1 }
            try plan.execute(from: source, into: destination)
            guard Self.bytes(destination) == expected else {
                return XCTFail("trial \(trial): \(source.layout) → \(destination.layout), \(elementSize)-byte, \(threads) threads, kernel \(plan.kernel)")
            }
        }
        for kernel in [CopyPlan.Kernel.bulk, .gather, .fill, .transpose] {
            XCTAssertGreaterThan(kernels[kernel, default: 0], 50, "kernel \(kernel) exercised")
        }
        XCTAssertGreaterThan(streamed, 10, "streaming stores exercised")
        XCTAssertGreaterThan(groupedAlong, 50, "tiles over two destination dimensions exercised")
        XCTAssertGreaterThan(groupedAcross, 30, "tiles over two source dimensions exercised")
        XCTAssertGreaterThan(followingSource, 100, "work items along the source's rows exercised")
    }

    func testWorkItemsFollowTheSourceRowsAndChunksStillBoundTheirWrites() throws {
        // The fresh-destination path runs a chunk once the pages up to destinationEnd(ofChunk:) are
        // in: every item of the chunk must write below it, whichever order the items go in.
        let cases: [([Int], [Int], Int)] = [([16, 15, 15, 15, 5, 32], [5, 4, 3, 2, 1, 0], 4), ([1100, 1301], [1, 0], 4),
                                            ([48, 9, 9, 9, 48], [4, 0, 3, 2, 1], 8), ([1500, 700], [1, 0], 2),
                                            // The tile's whole source (along, across and across2) lies back to back: followed into the next dimension.
                                            ([4, 3, 15, 112, 5, 32], [2, 0, 4, 1, 5, 3], 4),
                                            // Tiles of short runs (bulk) follow the source too.
                                            ([15, 15, 103, 15, 10, 16], [4, 1, 0, 3, 2, 5], 2), ([298, 28, 28, 8, 32], [1, 3, 2, 0, 4], 1),
                                            // Long runs (one per item) follow the dimension that continues the source's run.
                                            ([6, 5, 4, 300], [2, 1, 0, 3], 16)]
        for (shape, permutation, elementSize) in cases {
            let view = try Layout.rowMajor(shape).permuted(permutation)
            let destination = try Layout.rowMajor(view.shape)
            for follows in [true, false] {
                var tuning = CopyTuning.defaults
                tuning.followsSourceRows = follows
                let plan = try CopyPlan(source: view, destination: destination, elementSize: elementSize, tuning: tuning, threads: 2)
                XCTAssertEqual(plan.innermostFollowsSource, follows, "\(shape) \(permutation)")
                let reach = plan.destinationReach, end = destination.count
                // The last element item `item` writes: its tile's extent per loop (smaller at the ends).
                func lastWritten(byItem item: Int) -> Int {
                    var remainder = item, span = 0
                    for loop in plan.loops.reversed() {
                        let index = remainder % loop.count
                        remainder /= loop.count
                        let extent = index == loop.count - 1 ? loop.lastExtent : loop.extent
                        span += (extent - 1) * (loop.destinationStep / loop.extent)
                    }
                    return plan.destinationOffset(ofItem: item) + span
                }
                for chunk in 0..<plan.chunkCount {
                    let bound = plan.destinationEnd(ofChunk: chunk, reach: reach, footprintEnd: end)
                    let items = chunk * plan.itemsPerChunk..<Swift.min((chunk + 1) * plan.itemsPerChunk, plan.workItems)
                    let last = items.map(lastWritten(byItem:)).max()!
                    XCTAssertLessThan(last, bound, "\(shape) \(permutation), follows \(follows), chunk \(chunk)")
                    if last >= bound { break }
                }
            }
        }
        // Along the source: a 2-D tile that ends inside the source's rows goes on along them.
        let square = try CopyPlan(source: Layout.rowMajor([1100, 1301]).transposed(0, 1), destination: Layout.rowMajor([1301, 1100]), elementSize: 4, tuning: .defaults, threads: 2)
        XCTAssertEqual(square.loops.last?.sourceStep, square.tileShape.across, "the across loop runs innermost")
    }

    func testDefaultTuningAndEveryThreadCountGiveIdenticalResults() throws {
        var rng = SeededGenerator(seed: 7)
        for trial in 0..<60 {
            let source = try Self.randomSource(rank: 2 + trial % 4, elementSize: 4, using: &rng)
            let destination = try Self.randomDestination(shape: source.shape, elementSize: 4, using: &rng)
            let expected = try Self.referenceResult(source, destination)
            let before = Self.bytes(destination)
            for threads in 1...8 {
                destination.storage.baseAddress.copyMemory(from: before, byteCount: before.count)
                try destination.copy(from: source, threads: threads)
                XCTAssertEqual(Self.bytes(destination), expected, "trial \(trial), \(threads) threads")
            }
        }
    }

    func testLargeCopiesAcrossKernelsAndWorkers() throws {
        // Sizes past the inline threshold with the default tuning: the parallel path with real tiles.
        for elementSize in [1, 2, 4, 8, 16] {
            for shape in [[257, 383], [64, 64, 33], [7, 130, 129]] {
                let source = try RawTensor(shape: shape, elementSize: elementSize)
                var rng = SeededGenerator(seed: UInt64(elementSize))
                Self.fillRandom(source.storage, using: &rng)
                let view = try source.permuted(Array((0..<shape.count).reversed()))
                let result = try view.contiguous(threads: 3)
                let expected = try RawTensor(shape: view.shape, elementSize: elementSize)
                ReferenceCopy.copy(from: view.storage.baseAddress, layout: view.layout, to: expected.storage.baseAddress, layout: expected.layout, elementSize: elementSize)
                XCTAssertEqual(Self.bytes(result), Self.bytes(expected), "\(shape) \(elementSize)")
            }
        }
    }

    func testOverlappingCopiesMatchCopyingThroughATemporary() throws {
        var rng = SeededGenerator(seed: 99)
        var overlapping = 0
        for trial in 0..<1500 {
            let elementSize = [1, 2, 4, 8, 16][trial % 5]
            let rank = 1 + trial % 4
            let source = try Self.randomSource(rank: rank, elementSize: elementSize, using: &rng)
            // A destination over the same storage: a non-overlapping view of it with the source's shape.
            let base = try RawTensor(storage: source.storage, layout: Layout.rowMajor([source.storage.byteCount / elementSize]), elementSize: elementSize)
            let count = source.count
            let capacity = base.count
            guard count <= capacity else { continue }
            let start = Int.random(in: 0...(capacity - count), using: &rng)
            var destination = try base.sliced(axis: 0, start: start, stop: start + count).reshaped(source.shape)
            if Bool.random(using: &rng), rank > 1 {
                destination = try base.sliced(axis: 0, start: start, stop: start + count)
                    .reshaped(source.shape.reversed()).permuted(Array((0..<rank).reversed()))
            }
            if source.mayOverlap(destination) { overlapping += 1 }
            let staged = try RawTensor(shape: source.shape, elementSize: elementSize)
            ReferenceCopy.copy(from: source.storage.baseAddress, layout: source.layout, to: staged.storage.baseAddress, layout: staged.layout, elementSize: elementSize)
            let expected = try Self.referenceResult(staged, destination)
            try destination.copy(from: source, threads: 1 + trial % 8)
            XCTAssertEqual(Self.bytes(destination), expected, "trial \(trial)")
        }
        XCTAssertGreaterThan(overlapping, 500)
    }

    func testShortRunsStreamAsOneStretchPerTile() throws {
        var tuning = CopyTuning.defaults
        tuning.streamingThresholdBytes = 0
        tuning.runTileAreaBytes = 32 << 10
        for (shape, elementSize) in [([40, 5, 6, 16], 4), ([33, 7, 3, 8], 8), ([64, 9, 5, 32], 2)] {
            let source = try RawTensor(shape: shape, elementSize: elementSize)
            var rng = SeededGenerator(seed: UInt64(shape[2]))
            Self.fillRandom(source.storage, using: &rng)
            let view = try source.permuted([2, 1, 0, 3])
            let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
            let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: 2)
            XCTAssertEqual(plan.kernel, .bulk)
            XCTAssertTrue(plan.streaming, "\(shape)")
            XCTAssertGreaterThan(plan.tileShape.along2, 1)
            try plan.execute(from: view, into: destination)
            XCTAssertEqual(Self.bytes(destination), try Self.referenceResult(view, destination), "\(shape)")
        }
    }

    func testShortRunsOfEveryLengthMatchTheReference() throws {
        // Runs of 2 to 40 bytes (two elements or more), copied with fixed-size moves that overlap (under 16 bytes: two
        // moves of 8, 4 or 2 bytes; above: 16-byte moves and the last 16 bytes again; 3 to 31 bytes
        // through register transposes where the CPU has AVX-512 VBMI), into a
        // destination with guard bytes on both sides, which must stay as they were. The guards put
        // the destination an odd number of elements in, so runs of 2-16 bytes stay runs (see
        // testRunsOfTwoToSixteenBytesAreMovedAsUnits).
        var tuning = CopyTuning.defaults
        tuning.streamingThresholdBytes = Int.max
        tuning.inlineThresholdBytes = 0
        for runBytes in 2...40 {
            for elementSize in [1, 2, 4, 8] where runBytes % elementSize == 0 && runBytes / elementSize >= 2 {
                let source = try RawTensor(shape: [9, 13, runBytes / elementSize], elementSize: elementSize)
                var rng = SeededGenerator(seed: UInt64(runBytes * 10 + elementSize))
                Self.fillRandom(source.storage, using: &rng)
                let view = try source.permuted([1, 0, 2])
                let guardElements = 16 / Swift.min(elementSize, 16) + 1
                let flat = try RawTensor(shape: [view.count + 2 * guardElements], elementSize: elementSize)
                Self.fillRandom(flat.storage, using: &rng)
                let destination = try flat.sliced(axis: 0, start: guardElements, stop: guardElements + view.count).reshaped(view.shape)
                let before = Self.bytes(flat)
                let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: 2)
                XCTAssertEqual(plan.kernel, .bulk)
                let expected = try Self.referenceResult(view, destination)
                try plan.execute(from: view, into: destination)
                Self.assertSameBytes(destination, expected, "\(runBytes)-byte runs of \(elementSize)-byte elements")
                let after = Self.bytes(flat), edge = guardElements * elementSize
                XCTAssertEqual(Array(after.prefix(edge)), Array(before.prefix(edge)), "\(runBytes)-byte runs: bytes before the destination")
                XCTAssertEqual(Array(after.suffix(edge)), Array(before.suffix(edge)), "\(runBytes)-byte runs: bytes after the destination")
            }
        }
    }

    func testShortRunsAcrossEachOtherAreTransposedInRegisters() throws {
        // Runs of 3 to 31 bytes that lie back to back on both sides (an image's RGB pixels with its
        // rows and columns swapped) are transposed in registers where the CPU has AVX-512 VBMI,
        // widened to 4, 8 or 16 bytes; streamed, each band of destination rows goes out from an L1
        // stage. Every length, with whole blocks and tails on both sides, into a destination that
        // starts an odd number of bytes in (rows inside lines) between guard bytes, flipped and
        // sliced sources, sources whose rows are read backwards (rotated a quarter turn), every
        // kernel setting, and VBMI off (the runs then move one by one).
        let cases: [(shape: [Int], elementSize: Int, permutation: [Int])] =
            (3...31).map { ([70, 45, $0], 1, [1, 0, 2]) } + [
                ([3, 40, 37, 3], 1, [0, 2, 1, 3]), ([130, 300, 3], 1, [1, 0, 2]), ([50, 33, 3], 2, [1, 0, 2]),
                ([41, 29, 3], 4, [1, 0, 2]), ([36, 20, 5], 2, [1, 0, 2]), ([33, 17, 7], 2, [1, 0, 2]),
            ]
        for c in cases {
            let runBytes = c.shape.last! * c.elementSize
            let source = try RawTensor(shape: c.shape, elementSize: c.elementSize)
            var rng = SeededGenerator(seed: UInt64(c.shape.reduce(0, +) * 10 + c.elementSize))
            Self.fillRandom(source.storage, using: &rng)
            let permuted = try source.permuted(c.permutation)
            // The source's rows flipped (its runs stay back to back, in order).
            let flipped = try permuted.sliced(axis: c.permutation.firstIndex(of: c.shape.count - 3)!, step: -1)
            let sliced = try source.sliced(axis: c.shape.count - 2, start: 1, stop: c.shape[c.shape.count - 2] - 2).permuted(c.permutation)
            // The source's rows read backwards (a quarter turn): each window of runs from its far end.
            let rotated = try permuted.sliced(axis: c.permutation.firstIndex(of: c.shape.count - 2)!, step: -1)
            for (name, view) in [("permuted", permuted), ("flipped", flipped), ("sliced", sliced), ("rotated", rotated)] {
                let guardElements = 64 / c.elementSize + 1
                let flat = try RawTensor(shape: [view.count + 2 * guardElements], elementSize: c.elementSize)
                Self.fillRandom(flat.storage, using: &rng)
                let destination = try flat.sliced(axis: 0, start: guardElements, stop: guardElements + view.count).reshaped(view.shape)
                let before = Self.bytes(flat), edge = guardElements * c.elementSize
                var streamed = CopyTuning.defaults
                streamed.streamingThresholdBytes = 0
                let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: c.elementSize, tuning: streamed, threads: 2)
                let label = "\(c.shape) \(name), \(runBytes)-byte runs: \(plan)"
                XCTAssertEqual(plan.kernel, .bulk, label)
                if Kernels.transposesShortRuns {
                    XCTAssertTrue(plan.streaming, label)
                    XCTAssertGreaterThan(plan.tileShape.along2, 16, label)
                }
                let expected = try Self.referenceResult(view, destination)
                for vbmi in [true, false] {
                    Kernels.allowAVX512VBMI(vbmi)
                    defer { Kernels.allowAVX512VBMI(true) }
                    try Self.forEachKernelSetting(workers: [1, 3]) { workers, tuning, setting in
                        try CopyPlan(source: view.layout, destination: destination.layout, elementSize: c.elementSize, tuning: tuning, threads: workers)
                            .execute(from: view, into: destination)
                        Self.assertSameBytes(destination, expected, "\(label), \(setting), VBMI \(vbmi)")
                        let after = Self.bytes(flat)
                        XCTAssertEqual(Array(after.prefix(edge)), Array(before.prefix(edge)), "\(label): bytes before the destination")
                        XCTAssertEqual(Array(after.suffix(edge)), Array(before.suffix(edge)), "\(label): bytes after the destination")
                    }
                }
            }
        }
    }

    func testQuarterTurnsAreTransposesWithTheirRowsTurnedRound() throws {
        // A transpose whose source rows are read backwards (x.T[::-1], a quarter turn) runs as the
        // register transposes with the tile's source columns read forwards and its destination rows
        // written from the last one up: every element size, tails on both sides, a batch of planes,
        // pixels of 3 to 16 channels read backwards into planes (the channel gathers, planes from
        // the last one up), planes read backwards into pixels (reversed into a stage, then
        // interleaved: `rl_interleave_reversed_planes`), every kernel setting, VBMI off.
        for elementSize in [1, 2, 4, 8, 16] {
            for (shape, permutation, flipped) in [([70, 45], [1, 0], 0), ([130, 300], [1, 0], 0), ([3, 37, 50], [0, 2, 1], 1),
                                                  ([9, 70, 3], [2, 0, 1], 0), ([5, 33, 15], [2, 0, 1], 0), ([4, 50, 16], [2, 0, 1], 0),
                                                  ([3, 9, 300], [1, 2, 0], 1), ([15, 5, 70], [1, 2, 0], 1), ([16, 4, 50], [1, 2, 0], 1), ([4, 3, 40], [1, 2, 0], 1)] {
                let source = try RawTensor(shape: shape, elementSize: elementSize)
                var rng = SeededGenerator(seed: UInt64(shape.reduce(0, +) * 10 + elementSize))
                Self.fillRandom(source.storage, using: &rng)
                let view = try source.permuted(permutation).sliced(axis: flipped, step: -1)
                let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
                let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize)
                XCTAssertEqual(plan.kernel, .transpose, "\(plan)")
                let expected = try Self.referenceResult(view, destination)
                for vbmi in [true, false] {
                    Kernels.allowAVX512VBMI(vbmi)
                    defer { Kernels.allowAVX512VBMI(true) }
                    try Self.forEachKernelSetting(workers: [1, 3]) { workers, tuning, setting in
                        try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: workers)
                            .execute(from: view, into: destination)
                        Self.assertSameBytes(destination, expected, "\(shape) of \(elementSize)-byte elements turned, \(setting), VBMI \(vbmi)")
                    }
                }
            }
        }
    }

    func testQuarterTurnsOfLargeTensorsMatchTheReference() throws {
        // Quarter turns both ways and a transpose turned half round (x.T[::-1], x.T[:, ::-1],
        // x.T[::-1, ::-1]) with tiles of 96 x 80 elements, so that tiles lie before and after each
        // other on both sides (the wide walks' neighbour rows, read forwards from a tile turned
        // round), destination rows that are whole lines (256 source rows) and rows that start
        // inside lines, tails on both sides; every element size and kernel setting.
        for elementSize in [1, 2, 4, 8, 16] {
            for shape in [[256, 300], [257, 301], [300, 130]] {
                let source = try RawTensor(shape: shape, elementSize: elementSize)
                var rng = SeededGenerator(seed: UInt64(shape.reduce(0, +) * 10 + elementSize))
                Self.fillRandom(source.storage, using: &rng)
                let transposed = try source.permuted([1, 0])
                for (name, view) in try [("x.T[::-1]", transposed.sliced(axis: 0, step: -1)), ("x.T[:, ::-1]", transposed.sliced(axis: 1, step: -1)),
                                         ("x.T[::-1, ::-1]", transposed.sliced(axis: 0, step: -1).sliced(axis: 1, step: -1))] {
                    let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
                    let expected = try Self.referenceResult(view, destination)
                    try Self.forEachKernelSetting(workers: [1, 2]) { workers, tuning, setting in
                        var tuning = tuning
                        tuning.tiles[elementSize] = .init(along: 96, across: 80)
                        let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: workers)
                        XCTAssertEqual(plan.kernel, .transpose, "\(plan)")
                        XCTAssertTrue(plan.registerTranspose || plan.flipsAcross, "\(name): \(plan)")
                        try plan.execute(from: view, into: destination)
                        Self.assertSameBytes(destination, expected, "\(shape) of \(elementSize)-byte elements, \(name), \(setting)")
                    }
                }
            }
        }
    }

    func testReversedRunsAcrossEachOtherTakeTheRunTransposes() throws {
        // Pixels of 2 to 31 bytes with rows and columns swapped and channels reversed
        // (x.transpose(1, 0, 2)[..., ::-1], an RGB image turned and made BGR): the run transposes
        // reverse the units in their first permute. Every element size, whole blocks and tails on
        // both sides, also turned a quarter (read backwards) and flipped, every kernel setting,
        // VBMI off (the permuted blocks).
        for elementSize in [1, 2, 4, 8] {
            for channels in [2, 3, 4, 5, 7, 16, 31] where channels * elementSize <= 31 {
                let source = try RawTensor(shape: [37, 70, channels], elementSize: elementSize)
                var rng = SeededGenerator(seed: UInt64(elementSize * 100 + channels))
                Self.fillRandom(source.storage, using: &rng)
                let turned = try source.permuted([1, 0, 2]).sliced(axis: 2, step: -1)
                for (name, view) in [("BGR", turned), ("BGR turned", try turned.sliced(axis: 0, step: -1)), ("BGR flipped", try turned.sliced(axis: 1, step: -1))] {
                    let expected = try Self.referenceResult(view, try RawTensor(shape: view.shape, elementSize: elementSize))
                    for vbmi in [true, false] {
                        Kernels.allowAVX512VBMI(vbmi)
                        defer { Kernels.allowAVX512VBMI(true) }
                        try Self.forEachKernelSetting(workers: [1, 2]) { threads, tuning, setting in
                            let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
                            let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: threads)
                            let label = "E=\(elementSize) C=\(channels) \(name), \(setting), VBMI \(vbmi): \(plan)"
                            let runTransposes = vbmi && rl_short_runs_transpose(channels * elementSize) != 0
                            if name != "BGR flipped", runTransposes { XCTAssertEqual(plan.kernel, .flippedRuns, label) }
                            if !runTransposes { XCTAssertNotEqual(plan.kernel, .flippedRuns, label) }
                            try plan.execute(from: view, into: destination)
                            Self.assertSameBytes(destination, expected, label)
                            if plan.kernel == .flippedRuns {
                                // Planned with the run transposes, run without them: the permuted
                                // blocks take the tiles.
                                Kernels.allowAVX512VBMI(false)
                                defer { Kernels.allowAVX512VBMI(true) }
                                let fallback = try RawTensor(shape: view.shape, elementSize: elementSize)
                                try plan.execute(from: view, into: fallback)
                                Self.assertSameBytes(fallback, expected, "\(label), VBMI turned off after planning")
                            }
                        }
                    }
                }
            }
        }
    }

    func testRowsReadBackwardsAreReversedARegisterAtATime() throws {
        // A flip along a row (x[:, ::-1]): elements of every size, and runs of 1 to 33 bytes (an
        // image's pixels), reversed a register of units at a time where the CPU has AVX-512 VBMI,
        // the last step overlapping the one before; rows shorter than a register go unit by unit.
        // Rows of 1 to 70 units, a destination between guard bytes, 1 and 2 workers, VBMI off.
        var cases: [(shape: [Int], elementSize: Int)] = [1, 2, 4, 8, 16].flatMap { e in [1, 3, 63, 64, 65, 70].map { ([5, $0], e) } }
        cases += (1...33).map { ([4, 23, $0], 1) } + [([3, 40, 3], 4), ([6, 17, 3], 2), ([2, 5, 7], 2)]
        for c in cases {
            let source = try RawTensor(shape: c.shape, elementSize: c.elementSize)
            var rng = SeededGenerator(seed: UInt64(c.shape.reduce(0, +) * 10 + c.elementSize))
            Self.fillRandom(source.storage, using: &rng)
            try Self.assertCopyBetweenGuardsMatchesReference(source.sliced(axis: 1, step: -1), "\(c.shape) of \(c.elementSize)-byte elements flipped")
        }
    }

    func testRunsSpacedApartArePackedARegisterAtATime() throws {
        // Runs of R bytes spaced S apart packed together (x[..., :3] of RGBA pixels): K = min(64 /
        // R, (128 - R) / S + 1) runs a step from two source registers where the CPU has AVX-512
        // VBMI, the last step overlapping the one before; steps over 64 bytes and rows shorter than
        // K runs go run by run. Pixels of 3 to 70 bytes, runs of 2 to 33, rows of 1 to 60 pixels,
        // channels from the front and from inside the pixel, wider elements, and every k-th element
        // of a row, between guard bytes, 1 and 2 workers, VBMI off.
        var cases: [(shape: [Int], elementSize: Int, channels: Range<Int>)] = []
        for (pixel, run) in [(4, 3), (3, 2), (8, 5), (16, 15), (40, 33), (64, 31), (70, 20), (5, 4), (33, 32), (60, 3), (48, 10)] {
            for pixels in [1, 7, 21, 60] { cases.append(([3, pixels, pixel], 1, 0..<run)) }
        }
        cases += [([5, 50, 4], 1, 1..<4), ([6, 33, 4], 4, 0..<3), ([4, 40, 4], 2, 0..<3), ([3, 30, 6], 2, 2..<5)]
        for c in cases {
            let source = try RawTensor(shape: c.shape, elementSize: c.elementSize)
            var rng = SeededGenerator(seed: UInt64(c.shape.reduce(0, +) * 10 + c.elementSize))
            Self.fillRandom(source.storage, using: &rng)
            let view = try source.sliced(axis: 2, start: c.channels.lowerBound, stop: c.channels.upperBound)
            try Self.assertCopyBetweenGuardsMatchesReference(view, "\(c.shape)[..., \(c.channels)] of \(c.elementSize)-byte elements")
        }
        // Every k-th element of a row (x[:, ::k]): elements as runs k elements apart, up to 64 bytes
        // (beyond, element by element).
        for elementSize in [1, 2, 4, 8, 16] {
            for step in [2, 3, 4, 5, 8, 9] {
                for row in [3, 40, 200] {
                    let source = try RawTensor(shape: [3, row], elementSize: elementSize)
                    var rng = SeededGenerator(seed: UInt64(row * 100 + step * 10 + elementSize))
                    Self.fillRandom(source.storage, using: &rng)
                    try Self.assertCopyBetweenGuardsMatchesReference(source.sliced(axis: 1, step: step), "[3, \(row)][:, ::\(step)] of \(elementSize)-byte elements")
                }
            }
        }
    }

    /// Copies `view` into a row-major destination that starts an odd number of elements into a
    /// storage with guard bytes on both sides, with 1 and 2 workers and VBMI on and off, and checks
    /// every byte against the reference and that the guards stay as they were.
    static func assertCopyBetweenGuardsMatchesReference(_ view: RawTensor, _ label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let elementSize = view.elementSize
        let guardElements = 64 / elementSize + 1
        let flat = try RawTensor(shape: [view.count + 2 * guardElements], elementSize: elementSize)
        var rng = SeededGenerator(seed: UInt64(view.count))
        fillRandom(flat.storage, using: &rng)
        let destination = try flat.sliced(axis: 0, start: guardElements, stop: guardElements + view.count).reshaped(view.shape)
        let before = bytes(flat), edge = guardElements * elementSize
        let expected = try referenceResult(view, destination)
        for vbmi in [true, false] {
            Kernels.allowAVX512VBMI(vbmi)
            defer { Kernels.allowAVX512VBMI(true) }
            for threads in [1, 2] {
                var tuning = CopyTuning.defaults
                tuning.inlineThresholdBytes = 0
                let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: threads)
                try plan.execute(from: view, into: destination)
                let label = "\(label), \(threads) threads, VBMI \(vbmi): \(plan)"
                assertSameBytes(destination, expected, label, file: file, line: line)
                let after = bytes(flat)
                XCTAssertEqual(Array(after.prefix(edge)), Array(before.prefix(edge)), "\(label): bytes before the destination", file: file, line: line)
                XCTAssertEqual(Array(after.suffix(edge)), Array(before.suffix(edge)), "\(label): bytes after the destination", file: file, line: line)
            }
        }
    }

    func testRegisterKernelsReadNothingOutsideTheSource() throws {
        // The run kernels load whole registers with masks: a window read from a row's far end (a
        // rotated image), the last runs of a row, a flip, spaced runs. A source that fills one page
        // between two inaccessible ones traps if any load reaches past either end.
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let mapping = mmap(nil, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), mapping != MAP_FAILED else {
            throw XCTSkip("mmap failed")
        }
        XCTAssertEqual(mprotect(mapping, page, PROT_NONE), 0)
        XCTAssertEqual(mprotect(mapping + 2 * page, page, PROT_NONE), 0)
        let storage = Storage(mapping: mapping, mappingLength: 3 * page, data: mapping + page, byteCount: page)
        var rng = SeededGenerator(seed: 4096)
        Self.fillRandom(storage, using: &rng)
        func check(_ view: RawTensor, threads: Int, streamed: Bool, _ label: String) throws {
            let destination = try RawTensor(shape: view.shape, elementSize: view.elementSize)
            var tuning = CopyTuning.defaults
            tuning.inlineThresholdBytes = 0
            if streamed { tuning.streamingThresholdBytes = 0 }
            try CopyPlan(source: view.layout, destination: destination.layout, elementSize: view.elementSize, tuning: tuning, threads: threads)
                .execute(from: view, into: destination)
            Self.assertSameBytes(destination, try Self.referenceResult(view, destination), label)
        }
        for (shape, elementSize) in [([page / 3 / 40, 40, 3], 1), ([page / 12 / 20, 20, 3], 4), ([page / 5 / 64, 64, 5], 1)] {
            let count = shape.reduce(1, *)
            let source = try RawTensor(storage: storage, layout: Layout(shape: shape, strides: Layout.rowMajor(shape).strides, offset: page / elementSize - count),
                                       elementSize: elementSize)
            let permuted = try source.permuted([1, 0, 2])
            let views = [("permuted", permuted), ("rotated", try permuted.sliced(axis: 0, step: -1)), ("flipped", try source.sliced(axis: 1, step: -1)),
                         ("spaced", try source.sliced(axis: 2, start: 0, stop: shape[2] - 1))]
            for (name, view) in views { try check(view, threads: 2, streamed: true, "\(shape) \(name), ending at the page's end") }
        }
        // Element quarter turns (tiles turned round) of a matrix that fills the page.
        for (side, elementSize) in [(64, 1), (45, 2), (32, 4), (16, 16)] {
            let source = try RawTensor(storage: storage, layout: Layout(shape: [side, side], strides: [side, 1], offset: page / elementSize - side * side),
                                       elementSize: elementSize)
            let turned = try source.permuted([1, 0]).sliced(axis: 0, step: -1)
            for (name, view) in [("x.T[::-1]", turned), ("x.T[::-1, ::-1]", try turned.sliced(axis: 1, step: -1))] {
                try check(view, threads: 2, streamed: true, "\(side)x\(side) of \(elementSize)-byte elements, \(name)")
            }
        }
        // Pixels of 4 elements of which 3 go into planes, the last pixel's fourth past the page's
        // end, forwards and flipped (the channel kernels' masked loads).
        for elementSize in [1, 2, 4] {
            let (height, width, pixel, channels) = (4, page / elementSize / 4 / 4, 4, 3)
            let last = (height - 1) * width * pixel + (width - 1) * pixel + channels
            let pixels = try RawTensor(storage: storage, layout: Layout(shape: [height, width, channels], strides: [width * pixel, pixel, 1], offset: page / elementSize - last),
                                       elementSize: elementSize)
            for (name, view) in [("RGBA into RGB planes", try pixels.permuted([2, 0, 1])), ("flipped into planes", try pixels.sliced(axis: 1, step: -1).permuted([2, 0, 1]))] {
                try check(view, threads: 2, streamed: true, "\(elementSize)-byte \(name)")
                try check(view, threads: 1, streamed: false, "\(elementSize)-byte \(name)")
            }
        }
        // The same views starting at the page's start.
        for (shape, elementSize) in [([page / 3 / 40, 40, 3], 1), ([page / 12 / 20, 20, 3], 4)] {
            let source = try RawTensor(storage: storage, layout: Layout.rowMajor(shape), elementSize: elementSize)
            let permuted = try source.permuted([1, 0, 2])
            for (name, view) in [("rotated", try permuted.sliced(axis: 0, step: -1)), ("flipped", try source.sliced(axis: 1, step: -1))] {
                try check(view, threads: 1, streamed: false, "\(shape) \(name), from the page's start")
            }
        }
    }

    func testRandomImageViewsMatchTheReference() throws {
        // The image operations of a data loader, combined at random on H x W x C pixels: any of the
        // three axis orders a loader uses, each axis sliced with a step of -2 to 3 (flips,
        // downsamples, channels dropped or reversed), every element size, 1 to 3 workers,
        // streaming on and off: the register paths for short runs, flips, spaced runs, quarter
        // turns and reversed blocks against the reference, with whatever they meet.
        var rng = SeededGenerator(seed: 2024)
        let orders = [[0, 1, 2], [1, 0, 2], [2, 0, 1], [0, 2, 1]]
        for trial in 0..<600 {
            let elementSize = [1, 2, 4, 8, 16][trial % 5]
            let shape = [Int.random(in: 1...40, using: &rng), Int.random(in: 1...70, using: &rng), Int.random(in: 1...9, using: &rng)]
            let source = try RawTensor(shape: shape, elementSize: elementSize)
            Self.fillRandom(source.storage, using: &rng)
            var view = source
            for axis in 0..<3 {
                let step = [-2, -1, -1, 1, 1, 1, 2, 3][Int.random(in: 0..<8, using: &rng)]
                let start = Int.random(in: 0...(shape[axis] / 4), using: &rng)
                view = step > 0 ? try view.sliced(axis: axis, start: start, step: step) : try view.sliced(axis: axis, step: step)
            }
            view = try view.permuted(orders[trial % orders.count])
            guard view.count > 0 else { continue }
            let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
            var tuning = CopyTuning.defaults
            tuning.inlineThresholdBytes = 0
            tuning.streamingThresholdBytes = trial % 2 == 0 ? 0 : Int.max
            let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: 1 + trial % 3)
            try plan.execute(from: view, into: destination)
            guard Self.bytes(destination) == (try Self.referenceResult(view, destination)) else {
                return XCTFail("trial \(trial): \(view.layout) of \(elementSize)-byte elements: \(plan)")
            }
        }
    }

    func testRunsOfTwoToSixteenBytesAreMovedAsUnits() throws {
        // A copy whose every run is 2, 4, 8 or 16 contiguous bytes on both sides (and whose other strides and
        // offsets are multiples of the run) is planned as a transpose of run-sized units; a run that
        // does not divide a stride or an offset keeps the element size. Each is checked against the
        // reference with both stores, 1-3 workers, a flipped source axis and a broadcast one.
        let cases: [(shape: [Int], elementSize: Int, permutation: [Int], unit: Int)] = [
            ([32, 300, 4], 1, [1, 0, 2], 4), ([32, 300, 2], 1, [1, 0, 2], 2), ([17, 130, 8], 1, [1, 0, 2], 8),
            ([40, 70, 4], 2, [1, 0, 2], 8), ([33, 65, 2], 4, [1, 0, 2], 8), ([5, 64, 9, 2], 2, [2, 1, 0, 3], 4),
            ([32, 300, 3], 1, [1, 0, 2], 1), ([30, 50, 16], 1, [1, 0, 2], 16), ([30, 50, 4], 4, [1, 0, 2], 16),
            ([31, 9, 8], 2, [1, 0, 2], 16), ([30, 50, 32], 1, [1, 0, 2], 1),
        ]
        for c in cases {
            let source = try RawTensor(shape: c.shape, elementSize: c.elementSize)
            var rng = SeededGenerator(seed: UInt64(c.shape.reduce(0, +) * 10 + c.elementSize))
            Self.fillRandom(source.storage, using: &rng)
            let permuted = try source.permuted(c.permutation)
            let flipped = try permuted.sliced(axis: 0, step: -1)
            let broadcast = try source.sliced(axis: 0, start: 0, stop: 1).expanded(to: c.shape).permuted(c.permutation)
            for (name, view) in [("permuted", permuted), ("flipped", flipped), ("broadcast", broadcast)] {
                let destination = try RawTensor(shape: view.shape, elementSize: c.elementSize)
                let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: c.elementSize)
                let expectedUnit = c.unit > c.elementSize ? c.unit : c.elementSize
                XCTAssertEqual(plan.unitSize, expectedUnit, "\(c.shape) \(name)")
                if expectedUnit > c.elementSize { XCTAssertEqual(plan.kernel, name == "broadcast" ? .fill : .transpose, "\(c.shape) \(name)") }
                let expected = try Self.referenceResult(view, destination)
                try Self.forEachKernelSetting(workers: [1, 2, 3]) { workers, tuning, label in
                    try CopyPlan(source: view.layout, destination: destination.layout, elementSize: c.elementSize, tuning: tuning, threads: workers)
                        .execute(from: view, into: destination)
                    Self.assertSameBytes(destination, expected, "\(c.shape) \(name), \(label)")
                }
            }
        }
        // One element off the unit: the offsets are no longer multiples of the run.
        let source = try RawTensor(shape: [32, 301, 4], elementSize: 1)
        let view = try source.sliced(axis: 1, start: 1, stop: 301).permuted([1, 0, 2])
        let offsetByOne = try RawTensor(shape: [view.count + 1], elementSize: 1).sliced(axis: 0, start: 1, stop: view.count + 1).reshaped(view.shape)
        XCTAssertEqual(try CopyPlan(source: view.layout, destination: Layout.rowMajor(view.shape), elementSize: 1).unitSize, 4)
        XCTAssertEqual(try CopyPlan(source: view.layout, destination: offsetByOne.layout, elementSize: 1).unitSize, 1)
    }

    func testBlocksReadBackwardsArePermutedBlocks() throws {
        // A block dimension the source reads backwards (RGB -> BGR, x[..., ::-1]; rows of a small
        // block flipped) makes a permuted block whose source starts before the element destination 0
        // reads: pixels of 2 to 16 channels of every element size, a 2-D block with one dimension
        // reversed, and the batch flipped or sliced as well; every kernel setting, VBMI off.
        var cases: [(shape: [Int], elementSize: Int, flips: [Int], slice: Bool)] = []
        for channels in [2, 3, 4, 5, 7, 16] {
            for elementSize in [1, 2, 4, 8, 16] where channels * elementSize <= 256 {
                cases.append(([37, 11, channels], elementSize, [2], false))
            }
        }
        cases += [([40, 3, 4], 1, [1], false), ([40, 3, 4], 4, [1, 2], false), ([33, 5, 3], 1, [0, 2], true), ([50, 8, 3], 2, [1, 2], true)]
        for c in cases {
            let source = try RawTensor(shape: c.shape, elementSize: c.elementSize)
            var rng = SeededGenerator(seed: UInt64(c.shape.reduce(0, +) * 17 + c.elementSize))
            Self.fillRandom(source.storage, using: &rng)
            var view = c.slice ? try source.sliced(axis: 0, start: 1, stop: c.shape[0] - 1) : source
            for axis in c.flips { view = try view.sliced(axis: axis, step: -1) }
            let label = "\(c.shape) of \(c.elementSize)-byte elements, axes \(c.flips) reversed"
            let plan = try CopyPlan(source: view.layout, destination: Layout.rowMajor(view.shape), elementSize: c.elementSize)
            if c.flips.contains(2) || c.flips == [1] { XCTAssertEqual(plan.kernel, .permutedBlocks, "\(label): \(plan)") }
            let expected = try Self.referenceResult(view, try RawTensor(shape: view.shape, elementSize: c.elementSize))
            for vbmi in [true, false] {
                Kernels.allowAVX512VBMI(vbmi)
                defer { Kernels.allowAVX512VBMI(true) }
                try Self.forEachKernelSetting(workers: [1, 3]) { threads, tuning, setting in
                    let destination = try RawTensor(shape: view.shape, elementSize: c.elementSize)
                    try CopyPlan(source: view.layout, destination: destination.layout, elementSize: c.elementSize, tuning: tuning, threads: threads)
                        .execute(from: view, into: destination)
                    Self.assertSameBytes(destination, expected, "\(label), \(setting), VBMI \(vbmi)")
                }
            }
        }
    }

    func testBatchesOfSmallBlocksArePermutedAsAStream() throws {
        // N small matrices (or 3-D blocks) permuted the same way, dense on both sides, run as one
        // stream of blocks (or, where the batch's blocks lie apart, through an L1 stage): with AVX-512 through register permutes (blocks up to 64 bytes), else and
        // beyond, up to 256 bytes of 2-byte or wider elements, element by element. Batches that are
        // not whole register steps, sources one block in (not line-aligned), every kernel setting,
        // and VBMI off for 1-byte blocks.
        let cases: [(block: [Int], permutation: [Int], sizes: [Int])] = [
            ([3, 3], [0, 2, 1], [1, 2, 4, 8, 16]), ([3, 4], [0, 2, 1], [1, 2, 4, 8]), ([4, 4], [0, 2, 1], [1, 2, 4]),
            ([2, 2], [0, 2, 1], [1, 4, 16]), ([2, 3, 2], [0, 3, 2, 1], [1, 2, 4]), ([7, 9], [0, 2, 1], [1]),
            ([5, 5], [0, 2, 1], [2, 4, 8]), ([8, 8], [0, 2, 1], [4]), ([2, 5, 3], [0, 2, 3, 1], [2, 8]),
        ]
        for c in cases {
            for elementSize in c.sizes {
                let shape = [203] + c.block
                let source = try RawTensor(shape: shape, elementSize: elementSize)
                var rng = SeededGenerator(seed: UInt64(c.block.reduce(1, *) * 16 + elementSize))
                Self.fillRandom(source.storage, using: &rng)
                let view = try source.sliced(axis: 0, start: 1, stop: 203).permuted(c.permutation)
                let label = "\(elementSize) B \(c.block) \(c.permutation)"
                let plan = try CopyPlan(source: view.layout, destination: Layout.rowMajor(view.shape), elementSize: elementSize)
                XCTAssertEqual(plan.kernel, .permutedBlocks, label)
                let expected = try Self.referenceResult(view, try RawTensor(shape: view.shape, elementSize: elementSize))
                for vbmi in elementSize == 1 ? [true, false] : [true] {
                    Kernels.allowAVX512VBMI(vbmi)
                    defer { Kernels.allowAVX512VBMI(true) }
                    try Self.forEachKernelSetting(workers: [1, 2, 3]) { threads, tuning, setting in
                        let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
                        try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: threads)
                            .execute(from: view, into: destination)
                        Self.assertSameBytes(destination, expected, "\(label), \(setting), VBMI \(vbmi)")
                    }
                }
            }
        }
        // Batches whose blocks lie apart: batch dimensions permuted too (items tile both, 64 x 64
        // blocks, with partial tiles), sliced with a step, broadcast (the same block again).
        let batchCases: [(shape: [Int], elementSize: Int, view: (RawTensor) throws -> RawTensor)] = [
            ([70, 90, 3, 4], 1, { try $0.permuted([1, 0, 3, 2]) }), ([70, 90, 3, 4], 4, { try $0.permuted([1, 0, 3, 2]) }),
            ([9, 130, 2, 2], 2, { try $0.permuted([1, 0, 3, 2]) }), ([6, 40, 30, 3, 3], 8, { try $0.permuted([0, 2, 1, 4, 3]) }),
            ([300, 3, 3], 4, { try $0.sliced(axis: 0, step: 3).permuted([0, 2, 1]) }),
            ([1, 3, 5], 2, { try $0.expanded(to: [200, 3, 5]).permuted([0, 2, 1]) }),
        ]
        for c in batchCases {
            let source = try RawTensor(shape: c.shape, elementSize: c.elementSize)
            var rng = SeededGenerator(seed: UInt64(c.shape.reduce(0, +) + c.elementSize))
            Self.fillRandom(source.storage, using: &rng)
            let view = try c.view(source)
            let expected = try Self.referenceResult(view, try RawTensor(shape: view.shape, elementSize: c.elementSize))
            try Self.forEachKernelSetting(workers: [1, 2, 3]) { threads, tuning, setting in
                let destination = try RawTensor(shape: view.shape, elementSize: c.elementSize)
                let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: c.elementSize, tuning: tuning, threads: threads)
                let label = "\(c.shape) \(c.elementSize) B, \(setting): \(plan)"
                XCTAssertEqual(plan.kernel, .permutedBlocks, label)
                try plan.execute(from: view, into: destination)
                Self.assertSameBytes(destination, expected, label)
            }
        }
        // A destination whose blocks lie apart too (every other block of a larger tensor): blocks
        // are put back one by one from the stage; the ones between stay as they were.
        let apart = try RawTensor(shape: [130, 3, 4], elementSize: 2)
        var apartRng = SeededGenerator(seed: 134)
        Self.fillRandom(apart.storage, using: &apartRng)
        let apartView = try apart.permuted([0, 2, 1])
        try Self.forEachKernelSetting(workers: [1, 2]) { threads, tuning, setting in
            let wide = try RawTensor(shape: [260, 4, 3], elementSize: 2)
            Self.fillRandom(wide.storage, using: &apartRng)
            let destination = try wide.sliced(axis: 0, step: 2)
            // The whole storage: the blocks between must come out as they were.
            let expected = try Self.referenceResult(apartView, destination)
            let plan = try CopyPlan(source: apartView.layout, destination: destination.layout, elementSize: 2, tuning: tuning, threads: threads)
            XCTAssertEqual(plan.kernel, .permutedBlocks, setting)
            try plan.execute(from: apartView, into: destination)
            Self.assertSameBytes(destination, expected, "destination blocks apart, \(setting)")
        }
        // More workers than blocks: the batch is cut to one block per item, a block never.
        let few = try RawTensor(shape: [5, 2, 31], elementSize: 1)
        var rng = SeededGenerator(seed: 62)
        Self.fillRandom(few.storage, using: &rng)
        let fewView = try few.permuted([0, 2, 1])
        var tuning = CopyTuning.defaults
        tuning.inlineThresholdBytes = 0
        let fewPlan = try CopyPlan(source: fewView.layout, destination: Layout.rowMajor(fewView.shape), elementSize: 1, tuning: tuning, threads: 16)
        XCTAssertEqual(fewPlan.kernel, .permutedBlocks)
        XCTAssertEqual(fewPlan.tileShape.along, 62, "\(fewPlan)")
        let fewDestination = try RawTensor(shape: fewView.shape, elementSize: 1)
        try fewPlan.execute(from: fewView, into: fewDestination)
        Self.assertSameBytes(fewDestination, try Self.referenceResult(fewView, fewDestination), "16 workers, 5 blocks")
        // Not blocks: blocks over 256 bytes, 1-byte blocks over 64.
        for (layout, elementSize) in [(try Layout.rowMajor([40, 9, 9]).permuted([0, 2, 1]), 4),
                                      (try Layout.rowMajor([40, 8, 9]).permuted([0, 2, 1]), 1)] {
            let plan = try CopyPlan(source: layout, destination: Layout.rowMajor(layout.shape), elementSize: elementSize)
            XCTAssertNotEqual(plan.kernel, .permutedBlocks, "\(layout.shape), \(elementSize) B")
        }
    }

    func testLongStreamedCopiesTakeFourPagesAtOnce() throws {
        // rl_copy_streaming takes copies of 16 KiB and more four pages at a time, a line of each in
        // turn, then the rest line by line: lengths around and past whole blocks, destinations and
        // sources at every kind of offset from a line, with 64-byte stores and with 16-byte ones.
        var rng = SeededGenerator(seed: 4096)
        let capacity = 5 * 16384 + 256
        let source = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        let destination = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        defer { source.deallocate(); destination.deallocate() }
        for k in 0..<capacity { source.storeBytes(of: UInt8(truncatingIfNeeded: rng.next()), toByteOffset: k, as: UInt8.self) }
        for avx512 in [true, false] {
            Kernels.allowAVX512Transposes(avx512)
            defer { Kernels.allowAVX512Transposes(true) }
            for length in [16383, 16384, 16447, 16448 + 63, 32768, 3 * 16384 + 4096 + 5, 4 * 16384 + 4000] {
                for (destinationOffset, sourceOffset) in [(0, 0), (1, 0), (63, 17), (32, 5), (0, 48)] {
                    memset(destination, 0xEE, capacity)
                    rl_copy_streaming(destination + destinationOffset, source + sourceOffset, length)
                    rl_store_fence()
                    let label = "\(length) bytes, destination +\(destinationOffset), source +\(sourceOffset), AVX-512 \(avx512)"
                    XCTAssertEqual(memcmp(destination + destinationOffset, source + sourceOffset, length), 0, label)
                    let before = (0..<destinationOffset).allSatisfy { destination.load(fromByteOffset: $0, as: UInt8.self) == 0xEE }
                    let after = (destinationOffset + length..<capacity).allSatisfy { destination.load(fromByteOffset: $0, as: UInt8.self) == 0xEE }
                    XCTAssertTrue(before && after, "\(label): bytes outside the copy were written")
                }
            }
        }
        // Through the engine: contiguous views of 200 KiB, whole runs of the copy streamed.
        var tuning = CopyTuning.defaults
        tuning.streamingThresholdBytes = 0
        for elementSize in [1, 4, 16] {
            let count = 200_000 / elementSize + 3
            let storage = try RawTensor(shape: [count + 2], elementSize: elementSize)
            Self.fillRandom(storage.storage, using: &rng)
            let view = try storage.sliced(axis: 0, start: 1, stop: count + 1)
            let flat = try RawTensor(shape: [count + 3], elementSize: elementSize)
            let into = try flat.sliced(axis: 0, start: 3, stop: count + 3)
            let plan = try CopyPlan(source: view.layout, destination: into.layout, elementSize: elementSize, tuning: tuning, threads: 2)
            XCTAssertEqual(plan.kernel, .bulk)
            XCTAssertTrue(plan.streaming)
            let expected = try Self.referenceResult(view, into)
            try plan.execute(from: view, into: into)
            Self.assertSameBytes(into, expected, "\(count) elements of \(elementSize) bytes")
        }
    }

    func testShortRunsStreamWholeLinesWhateverTheirLengthAndAlignment() throws {
        // Runs that are not whole lines, or a destination that does not start on one, stream their
        // stretch as whole aligned lines (lines across runs gathered first, ordinary stores only at the
        // stretch's two ends): 368-byte runs in every element size, 16- to 80-byte runs into a
        // destination 1 to 7 elements past a line, and stretches under 1 KiB of 16- to 48-byte runs
        // that start and end inside lines (those lines take ordinary stores).
        var tuning = CopyTuning.defaults
        tuning.streamingThresholdBytes = 0
        tuning.runTileAreaBytes = 32 << 10
        let cases: [([Int], Int, Int)] = [([9, 7, 5, 368], 1, 0), ([9, 7, 5, 184], 2, 0), ([6, 9, 4, 92], 4, 0), ([6, 9, 4, 46], 8, 3),
                                          ([5, 8, 7, 23], 16, 1), ([40, 33, 9, 16], 1, 1), ([40, 33, 9, 16], 2, 3), ([24, 9, 20, 20], 4, 7),
                                          ([30, 3, 50, 368], 1, 5), ([35, 3, 10, 16], 1, 0), ([35, 3, 10, 16], 1, 16),
                                          ([23, 4, 6, 32], 1, 32), ([21, 3, 5, 48], 1, 0), ([35, 3, 10, 8], 2, 8)]
        for (shape, elementSize, offset) in cases {
            // 16-byte runs come from a source one element in, which keeps them runs rather than
            // 16-byte units (testRunsOfTwoToSixteenBytesAreMovedAsUnits).
            let sourceOffset = shape[3] * elementSize == 16 ? 1 : 0
            let elements = shape.reduce(1, *)
            let source = try RawTensor(shape: [elements + sourceOffset], elementSize: elementSize)
                .sliced(axis: 0, start: sourceOffset, stop: sourceOffset + elements).reshaped(shape)
            var rng = SeededGenerator(seed: UInt64(shape[3] + offset))
            Self.fillRandom(source.storage, using: &rng)
            let view = try source.permuted([2, 1, 0, 3])
            let count = view.count
            let flat = try RawTensor(shape: [count + offset + 64], elementSize: elementSize)
            Self.fillRandom(flat.storage, using: &rng)
            let destination = try flat.sliced(axis: 0, start: offset, stop: offset + count).reshaped(view.shape)
            let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: 2)
            XCTAssertEqual(plan.kernel, .bulk)
            XCTAssertTrue(plan.streaming, "\(shape)")
            XCTAssertGreaterThan(plan.tileShape.along2, 1)
            let expected = try Self.referenceResult(view, destination)
            try plan.execute(from: view, into: destination)
            Self.assertSameBytes(destination, expected, "\(shape), \(elementSize)-byte elements, offset \(offset)")
        }
    }

    func testGroupedTransposesMatchTheReference() throws {
        // Short axes on both sides (TTC's 15/28/32/48 kind): the tile's A continues into A2 in the
        // destination and B into B2 in the source, so one grouped kernel call does each tile.
        // Sizes that are and are not multiples of the register block, streaming on and off, the row
        // walk and the line walk.
        for elementSize in [1, 2, 4, 8, 16] {
            // The last shape gives every row stride a multiple of 1 KiB: the kernel's line walk.
            let side = 64 / elementSize
            for (shape, permutation) in [([16, 5, 3, 5, 16], [4, 3, 2, 1, 0]), ([12, 7, 9, 12], [3, 2, 1, 0]), ([15, 4, 6, 17], [3, 0, 2, 1]),
                                         ([32, 3, 3, 3, 32], [4, 3, 2, 1, 0]), ([side, 4, 4, 4, side], [4, 3, 2, 1, 0])] {
                for streaming in [false, true] {
                    var tuning = CopyTuning.defaults
                    tuning.streamingThresholdBytes = streaming ? 0 : Int.max
                    tuning.inlineThresholdBytes = 0
                    tuning.chunkBytes = 2048
                    let source = try RawTensor(shape: shape, elementSize: elementSize)
                    var rng = SeededGenerator(seed: UInt64(shape[1] * 31 + elementSize))
                    Self.fillRandom(source.storage, using: &rng)
                    let view = try source.permuted(permutation)
                    let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
                    let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: 3)
                    let label = "\(shape) \(permutation) \(elementSize) B, streaming \(streaming)"
                    XCTAssertEqual(plan.kernel, .transpose, label)
                    XCTAssertTrue(plan.grouped.along || plan.grouped.across, label)
                    try plan.execute(from: view, into: destination)
                    XCTAssertEqual(Self.bytes(destination), try Self.referenceResult(view, destination), label)
                }
            }
        }
    }

    func testGroupedTransposesIntoRowsInsideLinesMatchTheReference() throws {
        // Grouped tiles whose destination rows start 32 bytes into a line (TTC's 96x75x75x96 kind,
        // scaled: rows of 160 bytes, 96 for 1-byte elements, whose grouped tiles stay under 16 KiB,
        // and 81 of them between rows): with AVX-512 whole strips stream lines joined in registers,
        // the remaining rows take the grouped kernels. One and two workers (one whole tile, or several).
        for elementSize in [1, 2, 4, 8, 16] {
            let side = elementSize == 1 ? 96 : 160 / elementSize
            let source = try RawTensor(shape: [side, 9, 9, side], elementSize: elementSize)
            var rng = SeededGenerator(seed: UInt64(side))
            Self.fillRandom(source.storage, using: &rng)
            let view = try source.permuted([3, 2, 1, 0])
            for threads in [1, 2] {
                var tuning = CopyTuning.defaults
                tuning.streamingThresholdBytes = 0
                tuning.inlineThresholdBytes = 0
                let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
                let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: threads)
                let label = "\(elementSize) B, \(threads) threads: \(plan)"
                XCTAssertTrue(plan.grouped.along && plan.grouped.across, label)
                XCTAssertTrue(plan.streaming, label)
                try plan.execute(from: view, into: destination)
                try Self.assertSameBytes(destination, Self.referenceResult(view, destination), label)
            }
        }
    }

    func testGroupedSidesGoOnIntoAThirdDimension() throws {
        // TTC's 32x15x15x15x5x112:5,4,3,2,1,0 kind, scaled to each element size: destination rows
        // of 32 x 15 bytes (480, not whole lines) continue into the next destination dimension (2 of
        // 11: 960 bytes, a last tile of 1), and short source rows into the next source dimension:
        // 112 x 2 bytes (224, under 384) 2 of 5, or for 4 bytes and more 112 x 4 (448, under 1024) 3
        // of 5, a last tile of 1 or 2. TTC's 112x15x15x15x5x32 kind (destination rows of whole lines
        // here, 128 x 5 bytes): source rows of 32 x 5 or 32 x 10 bytes going on 3 of 5. Streamed and
        // not, with and without the AVX-512 walks, one to three workers (enough items for three to
        // keep the third dimension).
        for elementSize in [1, 2, 4, 8, 16] {
            let wide = elementSize >= 4
            for (shape, along3, across3) in [([32 / elementSize, 15, 11, 5, wide ? 4 : 2, 112 / elementSize], 2, wide ? 3 : 2),
                                             ([128 / elementSize, 5, 7, 5, wide ? 10 : 5, 32 / elementSize], 1, 3)] {
                let source = try RawTensor(shape: shape, elementSize: elementSize)
                var rng = SeededGenerator(seed: UInt64(shape.reduce(0, +) + elementSize))
                Self.fillRandom(source.storage, using: &rng)
                let view = try source.permuted([5, 4, 3, 2, 1, 0])
                try Self.forEachKernelSetting(workers: [1, 3]) { threads, tuning, setting in
                    let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
                    let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: threads)
                    let label = "\(elementSize) B \(shape), \(setting): \(plan)"
                    XCTAssertEqual(plan.tileShape.along3, along3, label)
                    XCTAssertEqual(plan.tileShape.across3, across3, label)
                    try plan.execute(from: view, into: destination)
                    try Self.assertSameBytes(destination, Self.referenceResult(view, destination), label)
                }
                // contiguous(): a fresh result, its pages faulted in ahead of such chunks.
                let fresh = try view.contiguous(threads: 2)
                try Self.assertSameBytes(fresh, Self.referenceResult(view, fresh), "\(elementSize) B \(shape), contiguous()")
            }
        }
    }

    /// Runs `body` streamed on each worker count in `workers`, then on two workers with ordinary
    /// stores, and streamed without the AVX-512 walks; tuning with no inline threshold.
    static func forEachKernelSetting(workers: [Int], _ body: (Int, CopyTuning, String) throws -> Void) throws {
        for (threads, streamed, avx512) in workers.map({ ($0, true, true) }) + [(2, false, true), (2, true, false)] {
            Kernels.allowAVX512Transposes(avx512)
            defer { Kernels.allowAVX512Transposes(true) }
            var tuning = CopyTuning.defaults
            tuning.streamingThresholdBytes = streamed ? 0 : Int.max
            tuning.inlineThresholdBytes = 0
            try body(threads, tuning, "\(threads) threads, streamed \(streamed), AVX-512 \(avx512)")
        }
    }

    func testShortRowsGoUpToWholeLinesWithinTwiceTheBudget() throws {
        // TTC's u1 75x608x12x96:3,0,2,1: destination rows of 608 bytes, where the budget (1024) holds
        // only one, take two (1216 bytes, whole lines) and group; scaled here to 5x608x3x96 (two
        // and a last tile of one), against the reference with and without streaming and AVX-512.
        let full = try CopyPlan(source: Layout.rowMajor([75, 608, 12, 96]).permuted([3, 0, 2, 1]), destination: Layout.rowMajor([96, 75, 12, 608]),
                                elementSize: 1, tuning: .defaults, threads: 2)
        XCTAssertEqual(full.tileShape.along2, 2, "\(full)")
        XCTAssertTrue(full.grouped.along, "\(full)")
        let source = try RawTensor(shape: [5, 608, 3, 96], elementSize: 1)
        var rng = SeededGenerator(seed: 608)
        Self.fillRandom(source.storage, using: &rng)
        let view = try source.permuted([3, 0, 2, 1])
        try Self.forEachKernelSetting(workers: [1, 2]) { threads, tuning, setting in
            let destination = try RawTensor(shape: view.shape, elementSize: 1)
            let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: 1, tuning: tuning, threads: threads)
            let label = "\(setting): \(plan)"
            XCTAssertEqual(plan.tileShape.along2, 2, label)
            try plan.execute(from: view, into: destination)
            try Self.assertSameBytes(destination, Self.referenceResult(view, destination), label)
        }
    }

    func testPlannerContinuesGroupedSidesOnlyWhereRowsFallShort() throws {
        func plan(_ shape: [Int], _ elementSize: Int, threads: Int = 2) throws -> CopyPlan {
            let view = try Layout.rowMajor(shape).permuted(Array(shape.indices.reversed()))
            var tuning = CopyTuning.defaults
            tuning.inlineThresholdBytes = 0
            return try CopyPlan(source: view, destination: Layout.rowMajor(view.shape), elementSize: elementSize, tuning: tuning, threads: threads)
        }
        // u1: destination rows of 480 bytes become 960 (whole lines); source rows of 560 stay.
        // (Grouped on every CPU: 32 x 112 bytes per inner transpose is under the 16 KiB to which
        // 1-byte tiles into rows inside lines group where the narrow walk for them does not run.)
        let rowsInsideLines = try plan([32, 15, 15, 15, 5, 112], 1)
        XCTAssertEqual(rowsInsideLines.tileShape.along3, 2, "\(rowsInsideLines)")
        XCTAssertEqual(rowsInsideLines.tileShape.across3, 1, "\(rowsInsideLines)")
        // u1: source rows of 160 bytes become 480 (15 = 3 x 5 tiles); destination rows of 896 bytes
        // are whole lines already.
        let shortSourceRows = try plan([112, 15, 15, 15, 5, 32], 1)
        XCTAssertEqual(shortSourceRows.tileShape.across3, 3, "\(shortSourceRows)")
        XCTAssertEqual(shortSourceRows.tileShape.along3, 1, "\(shortSourceRows)")
        // f4: destination rows of 1792 bytes (whole lines) stay; source rows of 640 bytes, under the
        // 1024 that 4-byte and wider elements continue to, become 1280. u2's source rows of 320
        // bytes become 640 (the 384 of 1- and 2-byte elements, balanced: 2 x 2 tiles ... 15 = 8 x 2 - 1).
        let floats = try plan([112, 15, 15, 15, 5, 32], 4)
        XCTAssertEqual(floats.tileShape.along3, 1, "\(floats)")
        XCTAssertEqual(floats.tileShape.across3, 2, "\(floats)")
        let halves = try plan([112, 15, 15, 15, 5, 32], 2)
        XCTAssertEqual(halves.tileShape.across3, 2, "\(halves)")
        let doubles = try plan([112, 15, 15, 15, 5, 32], 8)
        XCTAssertEqual(doubles.tileShape.across3, 1, "\(doubles)")
        // Not where a parallel copy would be left with fewer than four items per worker: 15 items
        // would become 6 (3 x 2), enough for one worker but not for three.
        XCTAssertEqual(try plan([32, 15, 5, 3, 2, 112], 1, threads: 1).tileShape.along3, 2)
        let few = try plan([32, 15, 5, 3, 2, 112], 1, threads: 3)
        XCTAssertEqual(few.tileShape.along3 * few.tileShape.across3, 1, "\(few)")
        XCTAssertEqual(few.workItems, 15, "\(few)")
        // A dimension that continues both sides (here the destination after A2 and the source after
        // B2) goes to one of them only: the along side, which asks first.
        // (32x15x4x5x32:4,3,2,1,0: the middle dimension, 4, continues both.)
        let source = try RawTensor(shape: [32, 15, 4, 5, 32], elementSize: 1)
        var rng = SeededGenerator(seed: 22)
        Self.fillRandom(source.storage, using: &rng)
        let view = try source.permuted([4, 3, 2, 1, 0])
        let destination = try RawTensor(shape: view.shape, elementSize: 1)
        var tuning = CopyTuning.defaults
        tuning.streamingThresholdBytes = 0
        let both = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: 1, tuning: tuning, threads: 1)
        XCTAssertEqual(both.tileShape.along3, 2, "\(both)")
        XCTAssertEqual(both.tileShape.across3, 1, "\(both)")
        try both.execute(from: view, into: destination)
        try Self.assertSameBytes(destination, Self.referenceResult(view, destination), "\(both)")
        XCTAssertEqual(CopyPlan.greatestCommonDivisor(480, 64), 32)
        XCTAssertEqual(CopyPlan.greatestCommonDivisor(64, 64), 64)
        XCTAssertEqual(CopyPlan.fewestCopies(of: 480, filling: 64), 2)
        XCTAssertEqual(CopyPlan.fewestCopies(of: 608, filling: 64), 2)
        XCTAssertEqual(CopyPlan.fewestCopies(of: 1920, filling: 64), 1)
    }

    func testPackedStripsOfShortRowsStreamWholeLines() throws {
        // 1- and 2-byte destination rows back to back that are not whole lines (TTC's
        // 75x96x75x96:2,0,3,1 kind, scaled): strips of 16 / E rows are whole lines, staged in L1 and
        // streamed. Rows of 96 and 36 bytes (the latter with a tail along), row counts whose strips
        // straddle two groups (those take ordinary stores), and tiles that are and are not grouped;
        // rows of 288 bytes from short source rows stay in strips, and rows of 608 bytes from source
        // rows of 576 (both long) take the skewed walk instead.
        for (elementSize, shape, permutation) in [(1, [5, 96, 7, 96], [2, 0, 3, 1]), (1, [3, 36, 5, 40], [2, 0, 3, 1]), (2, [4, 48, 6, 40], [2, 0, 3, 1]),
                                                  (1, [3, 288, 5, 40], [2, 0, 3, 1]), (1, [2, 608, 6, 96], [2, 0, 3, 1]),
                                                  (1, [3, 4, 48, 2, 88], [1, 3, 0, 4, 2]), (2, [3, 4, 20, 2, 72], [1, 3, 0, 4, 2]),
                                                  (1, [6, 48, 200], [0, 2, 1])] {
            let source = try RawTensor(shape: shape, elementSize: elementSize)
            var rng = SeededGenerator(seed: UInt64(shape.reduce(0, +) + elementSize))
            Self.fillRandom(source.storage, using: &rng)
            let view = try source.permuted(permutation)
            for threads in [1, 3] {
                var tuning = CopyTuning.defaults
                tuning.streamingThresholdBytes = 0
                tuning.inlineThresholdBytes = 0
                tuning.chunkBytes = 4096
                try Self.assertStreamedTransposeMatchesReference(view, tuning: tuning, threads: threads, "\(shape) \(permutation) \(elementSize) B, \(threads) threads")
            }
        }
    }

    func testSkewedTilesStreamTheLinesTheyShareWithTheirNeighbours() throws {
        // With AVX-512, a plain tile into rows that start inside lines reads the source rows
        // either side of it (64 / E of them, at most RL_NEIGHBOUR_ROWS), where the plane has
        // RL_NEIGHBOUR_ROWS of them, and streams the lines it shares with the tiles before and
        // after it whole (RL_TRANSPOSE_ROWS_BEFORE / _AFTER); 1- and 2-byte tiles through the
        // staged walk (VBMI), the others through the wide one. Rows of 4, 5 and 6 tiles along: a
        // last tile of RL_NEIGHBOUR_ROWS + 16 rows (its neighbour reads into it), of 9 (too few:
        // its neighbour masks), tiles that are no whole number of blocks (the walk stops short of
        // the tile's end, so it masks its last lines); 1 to 3 threads, so neighbours run at once
        // too. Every case also fetches its source ahead (RL_TRANSPOSE_FETCH_AHEAD), which must
        // change nothing but the timing.
        let neighbours = Int(RL_NEIGHBOUR_ROWS)
        for (elementSize, fetchAhead) in [1, 2, 4, 8, 16].flatMap({ size in [(size, false), (size, true)] }) {
            let block = 64 / elementSize, tile = Swift.max(4 * block, 2 * neighbours)
            for (alongTile, columns) in [(tile, 4 * tile + neighbours + 16), (tile, 5 * tile + 9), (tile + block / 2, 6 * (tile + block / 2) + 3)] {
                var tuning = CopyTuning.defaults
                tuning.fetchAheadThresholdBytes = fetchAhead ? 0 : Int.max
                tuning.streamingThresholdBytes = 0
                tuning.inlineThresholdBytes = 0
                tuning.chunkBytes = 4096
                tuning.tiles[elementSize] = .init(along: alongTile, across: 2 * block + 3)
                let rows = 5 * block + 1
                let source = try RawTensor(shape: [columns, rows], elementSize: elementSize)
                var rng = SeededGenerator(seed: UInt64(columns * 31 + elementSize))
                Self.fillRandom(source.storage, using: &rng)
                // Also with the source's rows read backwards (a negative along stride): the rows
                // before and after a tile lie the other way round in memory.
                for (reversed, threads) in [(false, 1), (false, 2), (false, 3), (true, 2)] {
                    let view = try (reversed ? source.sliced(axis: 0, step: -1) : source).transposed(0, 1)
                    try Self.assertStreamedTransposeMatchesReference(view, tuning: tuning, threads: threads,
                                                                     "\(elementSize) B, rows of \(columns), tiles of \(alongTile) along, reversed \(reversed), \(threads) threads, fetching ahead \(fetchAhead)")
                }
            }
        }
    }

    func testOnlyCopiesPastTheFetchAheadThresholdFetchTheirSourceAhead() throws {
        // Streamed transposes with a destination of at least fetchAheadThresholdBytes (by default
        // half the last-level cache) fetch their source ahead; smaller ones, copies with ordinary
        // stores, and every copy with the threshold at Int.max do not.
        XCTAssertEqual(CopyTuning.defaults.fetchAheadThresholdBytes, CopyTuning.fetchAheadThresholdByDefault)
        XCTAssertEqual(CopyTuning.fetchAheadThresholdByDefault, (CopyTuning.lastLevelCacheBytes ?? (32 << 20)) / 2)
        let layout = try Layout.rowMajor([1023, 1025]).permuted([1, 0])
        let bytes = layout.count * 4
        func fetchesAhead(threshold: Int, streamingFrom: Int = 0) throws -> Bool {
            var tuning = CopyTuning.defaults
            tuning.fetchAheadThresholdBytes = threshold
            tuning.streamingThresholdBytes = streamingFrom
            let plan = try CopyPlan(source: layout, destination: Layout.rowMajor(layout.shape), elementSize: 4, tuning: tuning, threads: 2)
            XCTAssertEqual(plan.kernel, .transpose)
            let flagged = plan.transposeFlags & Int32(RL_TRANSPOSE_FETCH_AHEAD) != 0
            XCTAssertEqual(flagged, plan.description.contains("fetched ahead"), plan.description)
            return flagged
        }
        XCTAssertTrue(try fetchesAhead(threshold: bytes))
        XCTAssertTrue(try fetchesAhead(threshold: 0))
        XCTAssertFalse(try fetchesAhead(threshold: bytes + 1))
        XCTAssertFalse(try fetchesAhead(threshold: Int.max))
        XCTAssertFalse(try fetchesAhead(threshold: 0, streamingFrom: Int.max))
        // A profile written before the knob existed takes this machine's default.
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(CopyTuning.defaults)) as! [String: Any]
        XCTAssertNotNil(json.removeValue(forKey: "fetchAheadThresholdBytes"))
        let decoded = try JSONDecoder().decode(CopyTuning.self, from: JSONSerialization.data(withJSONObject: json))
        XCTAssertEqual(decoded.fetchAheadThresholdBytes, CopyTuning.fetchAheadThresholdByDefault)
        json["fetchAheadThresholdBytes"] = -1
        XCTAssertThrowsError(try JSONDecoder().decode(CopyTuning.self, from: JSONSerialization.data(withJSONObject: json)))
    }

    func testNarrowWideWalkIntoRowsInsideLinesMatchesTheReference() throws {
        // 1- and 2-byte streamed tiles whose destination rows start inside lines take the staged wide
        // walk (AVX-512 VBMI): tiles of 1100 destination rows (one thread; two threads halve them
        // twice, keeping every tile's rows whole lines) make groups of 512, 512 and the rest, with
        // 128- and 64-byte steps and a tail of rows; odd rows (351 or 301 elements) make bands of
        // two blocks, a last band of one and a tail along. Source views start inside lines too; the
        // walk off takes the strips.
        for elementSize in [1, 2] {
            for offset in [0, 3] {
                for wide in [true, false] {
                    var tuning = CopyTuning.defaults
                    tuning.streamingThresholdBytes = 0
                    tuning.inlineThresholdBytes = 0
                    tuning.wideTransposes = wide
                    tuning.tiles[elementSize] = .init(along: 400, across: 1100)
                    let (rows, columns) = (2200, elementSize == 1 ? 351 : 301)
                    let source = try RawTensor(shape: [columns, rows + offset], elementSize: elementSize)
                    var rng = SeededGenerator(seed: UInt64(elementSize * 10 + offset))
                    Self.fillRandom(source.storage, using: &rng)
                    let view = try source.sliced(axis: 1, start: offset).transposed(0, 1)
                    let destination = try RawTensor(shape: [rows, columns], elementSize: elementSize)
                    for threads in [1, 2] {
                        let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: threads)
                        let label = "\(elementSize) B, offset \(offset), wide \(wide), \(threads) threads"
                        XCTAssertTrue(plan.streaming, label)
                        try plan.execute(from: view, into: destination)
                        try Self.assertSameBytes(destination, Self.referenceResult(view, destination), label)
                    }
                }
            }
        }
    }

    func testStreamedTransposesWithRowsInsideLinesMatchTheReference() throws {
        // The register kernel decides per tile whether rows that start inside a cache line may
        // stream (by the partial lines a strip keeps open), and 1-byte elements fetch ahead in the
        // row walk; with AVX-512 such rows take whole aligned lines joined in registers instead
        // (the baseline-build test reruns this without). Rows of 16 bytes past a line, 32 past, on a line, a 3 KiB row, and odd rows (one
        // element past 1040 bytes, which the kernel declines to stream); source views offset so
        // that tiles start inside lines too.
        for elementSize in [1, 2, 4, 8, 16] {
            for rowBytes in [1040, 1056, 1088, 3072, 1040 + elementSize] {
                let columns = rowBytes / elementSize
                for (rows, offset) in [(96, 0), (70, 1)] {
                    var tuning = CopyTuning.defaults
                    tuning.streamingThresholdBytes = 0
                    tuning.inlineThresholdBytes = 0
                    tuning.chunkBytes = 8192
                    // 1-byte tiles span 64 rows: a whole strip of lines joined in registers where
                    // rows start inside lines (AVX-512 VBMI).
                    tuning.tiles[elementSize] = .init(along: 64 * 16 / elementSize, across: elementSize == 1 ? 64 : 48)
                    let source = try RawTensor(shape: [columns, rows + offset], elementSize: elementSize)
                    var rng = SeededGenerator(seed: UInt64(rowBytes * 7 + elementSize + offset))
                    Self.fillRandom(source.storage, using: &rng)
                    let view = try source.sliced(axis: 1, start: offset).transposed(0, 1)
                    try Self.assertStreamedTransposeMatchesReference(view, tuning: tuning, threads: 2, "\(elementSize) B, rows of \(rowBytes) bytes, offset \(offset)")
                }
            }
        }
        // 1- and 2-byte line walks: 2 KiB-multiple destination rows, 4 KiB source rows (whose blocks
        // are copied through an L1 buffer first), with and without streaming, with tails.
        for elementSize in [1, 2] {
            let source = try RawTensor(shape: [2048, 4096 / elementSize], elementSize: elementSize)
            var rng = SeededGenerator(seed: 2048)
            Self.fillRandom(source.storage, using: &rng)
            for (rows, streaming) in [(128, true), (131, false)] {
                var tuning = CopyTuning.defaults
                tuning.streamingThresholdBytes = streaming ? 0 : Int.max
                tuning.inlineThresholdBytes = 0
                let view = try source.sliced(axis: 1, stop: rows).transposed(0, 1)
                let destination = try RawTensor(shape: [rows, 2048], elementSize: elementSize)
                let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: 2)
                XCTAssertEqual(plan.streaming, streaming)
                try plan.execute(from: view, into: destination)
                try Self.assertSameBytes(destination, Self.referenceResult(view, destination), "\(elementSize) B line walk, \(rows) rows")
            }
        }
    }

    func testFreshDestinationsPopulatedAheadMatchTheReference() throws {
        // Results of 4 MiB and more are fresh huge-page memory: slots fault them in ahead while the
        // others copy the chunks whose pages are in. Transposes, grouped transposes, short runs,
        // channels-last, odd sizes, and more workers than chunks. Nothing is reused between the
        // results here, so that each one is fresh.
        let retainedBytesLimit = Storage.retainedBytesLimit
        Storage.retainedBytesLimit = 0
        Storage.releaseRetainedPages()
        defer { Storage.retainedBytesLimit = retainedBytesLimit }
        let cases: [([Int], [Int], Int)] = [([1100, 1301], [1, 0], 4), ([15, 15, 32, 15, 32, 3], [4, 1, 0, 3, 2, 5], 4),
                                            ([16, 75, 96, 10], [2, 1, 0, 3], 4), ([2049, 1025], [1, 0], 2), ([700, 1500], [1, 0], 8)]
        for (shape, permutation, elementSize) in cases {
            let source = try RawTensor(shape: shape, elementSize: elementSize)
            var rng = SeededGenerator(seed: UInt64(shape.reduce(0, +)))
            Self.fillRandom(source.storage, using: &rng)
            let view = try source.permuted(permutation)
            XCTAssertGreaterThanOrEqual(view.count * elementSize, Storage.hugePageThreshold)
            for threads in [2, 3, 8] {
                let result = try view.contiguous(threads: threads)
                Self.assertSameBytes(result, try Self.referenceResult(view, result), "\(shape) \(permutation), \(threads) threads")
            }
        }
        let image = try RawTensor(shape: [8, 3, 300, 400], elementSize: 4)
        var rng = SeededGenerator(seed: 77)
        Self.fillRandom(image.storage, using: &rng)
        let channelsLast = try image.contiguous(format: .channelsLast, threads: 3)
        Self.assertSameBytes(channelsLast, try Self.referenceResult(image, channelsLast), "channels-last")
    }

    func testFreshDestinationsMatchTheReferenceForEveryPopulatorCount() throws {
        // Slots copy chunks whose pages are in and fault in the next 2 MiB while none is, at most
        // `freshPopulators` at a time; a reversed permutation's tile spans nearly the whole result,
        // so its first chunk waits for every page.
        for (shape, permutation, elementSize) in [([1100, 1301], [1, 0], 4), ([64, 20, 20, 64], [3, 2, 1, 0], 4), ([48, 9, 9, 9, 48], [4, 0, 3, 2, 1], 8)] {
            let source = try RawTensor(shape: shape, elementSize: elementSize)
            var rng = SeededGenerator(seed: UInt64(shape.reduce(0, +)))
            Self.fillRandom(source.storage, using: &rng)
            let view = try source.permuted(permutation)
            for populators in [1, 2, 8] {
                var tuning = CopyEngine.tuning(freshDestination: true)
                tuning.freshPopulators = populators
                for threads in [2, 3, 8] {
                    let result = try RawTensor(shape: view.shape, elementSize: elementSize)
                    XCTAssertGreaterThanOrEqual(result.storage.byteCount, Storage.hugePageThreshold)
                    let plan = try CopyPlan(source: view.layout, destination: result.layout, elementSize: elementSize, tuning: tuning, threads: threads)
                    XCTAssertGreaterThan(plan.workers, 1)
                    plan.execute(source: UnsafeRawPointer(source.storage.baseAddress), destination: result.storage.baseAddress, freshDestination: true)
                    Self.assertSameBytes(result, try Self.referenceResult(view, result), "\(shape) \(permutation), \(populators) populators, \(threads) threads")
                }
            }
        }
    }

    func testWideTransposesIntoAlignedRowsMatchTheReference() throws {
        // Streamed tiles into 64-byte-aligned rows walk by source rows in whole register blocks
        // (AVX-512; 1- and 2-byte ones staged 64 or 32 rows by 128 or 64 bytes, the last 16 columns
        // of a 2-byte tile whose width is not a multiple of 32 in 16 x 16 halves):
        // tiles whose sides are not multiples of a block (tails of both sides, the rest with ordinary
        // stores), tiles that start inside a line between them, and the walk off.
        for elementSize in [1, 2, 4, 8, 16] {
            let block = 64 / elementSize
            let rowBytes = 384
            let m = rowBytes / elementSize
            // 4- to 16-byte tiles walk bands of two blocks: 11/2 blocks along leave a band of one.
            for (along, across) in [(block * 9 / 2, block * 3 / 2 + 3), (block * 11 / 2, block * 2 + 5), (512 / elementSize * 4, 512 / elementSize * 4)] {
                for wide in [true, false] {
                    var tuning = CopyTuning.defaults
                    tuning.streamingThresholdBytes = 0
                    tuning.tiles[elementSize] = .init(along: along, across: across)
                    tuning.wideTransposes = wide
                    // 1-byte: 229 columns make a 128-byte step, a 64-byte one and a tail.
                    let source = try RawTensor(shape: [m, 37 + (elementSize == 1 ? 3 : 2) * block], elementSize: elementSize)
                    var rng = SeededGenerator(seed: UInt64(elementSize * 100 + along))
                    Self.fillRandom(source.storage, using: &rng)
                    let view = try source.permuted([1, 0])
                    let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
                    XCTAssertEqual(Int(bitPattern: destination.storage.baseAddress) % 64, 0)
                    for threads in [1, 2] {
                        let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: threads)
                        XCTAssertTrue(plan.streaming)
                        try plan.execute(from: view, into: destination)
                        Self.assertSameBytes(destination, try Self.referenceResult(view, destination), "E=\(elementSize) tile \(along)x\(across) wide \(wide), \(threads) threads")
                    }
                }
            }
        }
    }

    func testWideFourByteStepsOfOneAndTwoBlocksMatchTheReference() throws {
        // CopyTuning.wideFourByteBlockPairs: the AVX-512 walks take 4-byte tiles one 16 x 16 block
        // per step or two, one above the other. Plain tiles into aligned rows (tails on both sides,
        // 11/2 blocks along: with pairs a last band of one) and into rows that start inside lines
        // (rows of 1044 bytes) on one and two threads, grouped tiles (one work item) into aligned
        // rows and into rows 32 bytes into a line. Without AVX-512 both settings run the same kernels.
        let cases: [(shape: [Int], permutation: [Int], tile: CopyTuning.Tile?)] = [
            ([384, 16 * 6 + 7], [1, 0], .init(along: 16 * 11 / 2, across: 16 * 2 + 5)),
            ([261, 96], [1, 0], .init(along: 16 * 4 + 3, across: 48)),
            ([64, 3, 3, 40], [3, 2, 1, 0], nil),
            ([40, 9, 9, 40], [3, 2, 1, 0], nil),
        ]
        for (shape, permutation, tile) in cases {
            let source = try RawTensor(shape: shape, elementSize: 4)
            var rng = SeededGenerator(seed: UInt64(shape.reduce(0, +)))
            Self.fillRandom(source.storage, using: &rng)
            let view = try source.permuted(permutation)
            for pairs in [true, false] {
                var tuning = CopyTuning.defaults
                tuning.streamingThresholdBytes = 0
                // Grouped tiles need the whole copy as one work item: the caller's thread.
                if tile != nil { tuning.inlineThresholdBytes = 0 }
                tuning.wideFourByteBlockPairs = pairs
                if let tile { tuning.tiles[4] = tile }
                for threads in [1, 2] {
                    let destination = try RawTensor(shape: view.shape, elementSize: 4)
                    let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: 4, tuning: tuning, threads: threads)
                    let label = "\(shape) \(permutation), pairs \(pairs), \(threads) threads: \(plan)"
                    XCTAssertTrue(plan.streaming, label)
                    XCTAssertEqual(plan.grouped.along, tile == nil, label)
                    try plan.execute(from: view, into: destination)
                    Self.assertSameBytes(destination, try Self.referenceResult(view, destination), label)
                }
            }
        }
    }

    func testWideGroupedTransposesIntoAlignedRowsMatchTheReference() throws {
        // Grouped tiles (two dimensions per side) whose destination rows are whole aligned lines take
        // the wide walk through row tables (4- and 8-byte elements), or the staged walk (1- and 2-byte
        // elements) over the destination rows that make whole multiples of 64 / E, the grouped kernels
        // the rest: 40 x 3 source columns leave a tail of columns (120 rows: 96 + 24, or 64 + 56).
        for elementSize in [1, 2, 4, 8] {
            // Tiles of at most 16 KiB are grouped: 8-byte elements get 32 rows along; 1-byte ones 128,
            // for destination rows of at least 256 bytes, which stream.
            let along = elementSize == 8 ? 32 : elementSize == 1 ? 128 : 64
            // 3/4 of that along: an odd number of blocks, the last band one block.
            for shape in [[along, 3, 3, 40], [along, 3, 3, 64], [along * 3 / 4, 3, 3, 40]] {
                for wide in [true, false] {
                    var tuning = CopyTuning.defaults
                    tuning.streamingThresholdBytes = 0
                    tuning.wideTransposes = wide
                    let source = try RawTensor(shape: shape, elementSize: elementSize)
                    var rng = SeededGenerator(seed: UInt64(elementSize + shape[3]))
                    Self.fillRandom(source.storage, using: &rng)
                    let view = try source.permuted([3, 2, 1, 0])
                    let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
                    let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: 2)
                    XCTAssertTrue(plan.grouped.along && plan.grouped.across && plan.streaming, "\(shape) E=\(elementSize): \(plan.grouped)")
                    try plan.execute(from: view, into: destination)
                    Self.assertSameBytes(destination, try Self.referenceResult(view, destination), "\(shape) E=\(elementSize) wide \(wide)")
                }
            }
        }
    }

    func testStagedWalkForStridesOfWholeKiBMatchesTheReference() throws {
        // Without the AVX-512 walks (turned off here, absent on AVX2 machines), streamed tiles whose
        // source or destination rows are multiples of 1 KiB apart take the staged walk: steps of
        // 128 / E source rows by one line. Source rows 1 KiB apart with rows along that leave part of
        // a step (2.5 steps), destination rows 2 KiB apart with columns that leave part of a line;
        // tiles of whole steps and tiles with tails; the AVX2 build of 1- and 2-byte steps and the
        // 16-byte one; one and two threads. 4-byte tiles take the staggered form, whose eight lagged
        // groups wrap across bands: tiles fewer lines across than groups, and more, with a band of
        // one line and a row left over.
        try Self.withEachBuildWithoutAVX512 { avx2 in
            for elementSize in [1, 2, 4, 8, 16] {
                let line = 64 / elementSize, step = 128 / elementSize
                for (rows, columns) in [(step * 21 / 2, 2048 / elementSize), (2048 / elementSize, line * 24 + 3)] {
                    for tile in [(along: 4 * step, across: 2 * line), (along: 5 * step, across: 3 * line + 5),
                                 (along: 6 * step + line + 1, across: 11 * line + 3)] {
                        try Self.assertStreamedTransposeMatchesReference(rows: rows, columns: columns, elementSize: elementSize, tile: tile,
                                                                         seed: UInt64(elementSize * 1000 + rows + columns), "avx2 \(avx2)")
                    }
                }
            }
        }
    }

    func testStagedWalkOfFourByteSourceRowsHalfKiBApartMatchesTheReference() throws {
        // Without the AVX-512 walks, plain 4-byte tiles whose source rows lie a multiple of 512 bytes
        // (but not of 1 KiB) apart take the staggered staged walk rather than the row walk: source
        // rows of 1536 bytes (3 x 512) into aligned destination rows of 2320 elements, and of 4608
        // bytes (9 x 512) into destination rows of 75 and 301 elements (inside lines: the skewed form);
        // tiles of whole steps and tiles with tails; one and two threads; AVX2 on and off.
        try Self.withEachBuildWithoutAVX512 { avx2 in
            for (rows, columns) in [(2320, 384), (75, 1152), (301, 1152)] {
                for tile in [(along: 128, across: 64), (along: 5 * 32 + 17, across: 3 * 16 + 5)] {
                    try Self.assertStreamedTransposeMatchesReference(rows: rows, columns: columns, elementSize: 4, tile: tile,
                                                                     seed: UInt64(rows * 7 + columns), "avx2 \(avx2)")
                }
            }
        }
    }

    /// Runs `body` with the AVX-512 kernels turned off, once with the AVX2 build of the 1- and 2-byte
    /// steps and once with the 16-byte one (its argument says which), restoring both afterwards.
    static func withEachBuildWithoutAVX512(_ body: (Bool) throws -> Void) rethrows {
        Kernels.allowAVX512Transposes(false)
        defer { Kernels.allowAVX512Transposes(true) }
        defer { Kernels.allowAVX2(true) }
        for avx2 in [true, false] {
            Kernels.allowAVX2(avx2)
            try body(avx2)
        }
    }

    /// Copies the transpose of a random `rows` x `columns` tensor with `tile`, streamed, on one and
    /// two threads, and compares each result with the reference copy.
    static func assertStreamedTransposeMatchesReference(rows: Int, columns: Int, elementSize: Int, tile: (along: Int, across: Int),
                                                        stagedAtAnyStride: Bool = false, seed: UInt64, _ label: String,
                                                        file: StaticString = #filePath, line: UInt = #line) throws {
        var tuning = CopyTuning.defaults
        tuning.stagedTransposesAtAnyStride = stagedAtAnyStride
        tuning.streamingThresholdBytes = 0
        tuning.inlineThresholdBytes = 0
        tuning.tiles[elementSize] = .init(along: tile.along, across: tile.across)
        let source = try RawTensor(shape: [rows, columns], elementSize: elementSize)
        var rng = SeededGenerator(seed: seed)
        fillRandom(source.storage, using: &rng)
        let view = try source.permuted([1, 0])
        for threads in [1, 2] {
            let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
            let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: threads)
            let what = "E=\(elementSize) \(rows)x\(columns) tile \(tile) \(label), \(threads) threads"
            XCTAssertTrue(plan.streaming, "\(what): \(plan)", file: file, line: line)
            try plan.execute(from: view, into: destination)
            assertSameBytes(destination, try referenceResult(view, destination), what, file: file, line: line)
        }
    }

    func testStagedWalkAtAnyStrideMatchesTheReference() throws {
        // CopyTuning.stagedTransposesAtAnyStride, without the AVX-512 walks: the staged walk takes
        // streamed tiles whose strides are not multiples of 1 KiB, plain (destination rows of 22
        // lines, source rows of 37 elements past whole lines; tiles with tails on both sides) and
        // grouped (two dimensions a side, rows of whole lines), one and two threads, AVX2 on and off.
        // 8- and 16-byte tiles take it with the knob off too (rl_staged_at_any_stride).
        try Self.withEachBuildWithoutAVX512 { avx2 in
            for elementSize in [1, 2, 4, 8, 16] {
                let line = 64 / elementSize
                for knob in elementSize >= 8 ? [true, false] : [true] {
                    for tile in [(along: 4 * line, across: 3 * line), (along: 5 * line + 3, across: 2 * line + 5)] {
                        try Self.assertStreamedTransposeMatchesReference(rows: 22 * line, columns: 5 * line + 37, elementSize: elementSize, tile: tile,
                                                                         stagedAtAnyStride: knob, seed: UInt64(elementSize * 13 + tile.along),
                                                                         "avx2 \(avx2), knob \(knob)")
                    }
                }
                var grouped = CopyTuning.defaults
                grouped.streamingThresholdBytes = 0
                grouped.stagedTransposesAtAnyStride = elementSize < 8
                let source = try RawTensor(shape: [2 * line, 3, 3, 40], elementSize: elementSize)
                var rng = SeededGenerator(seed: UInt64(elementSize * 17 + (avx2 ? 1 : 0)))
                Self.fillRandom(source.storage, using: &rng)
                let view = try source.permuted([3, 2, 1, 0])
                let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
                let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: grouped, threads: 2)
                try plan.execute(from: view, into: destination)
                Self.assertSameBytes(destination, try Self.referenceResult(view, destination), "grouped E=\(elementSize) avx2 \(avx2): \(plan)")
            }
        }
    }

    func testSkewedStagedWalkIntoRowsInsideLinesMatchesTheReference() throws {
        // Without the AVX-512 walks, streamed tiles whose destination rows start inside lines take
        // the staged walk's skewed form (1- and 2-byte ones with the AVX2 steps only, else the row
        // walk): rows of an odd number of elements start at every offset
        // into their lines, some at none; tiles along of whole steps and with a tail, so that rows'
        // first and last partial lines fall inside the copy (where 64 source rows or more lie on
        // each side, the tiles read them and stream those lines whole); columns with a tail; one and
        // two threads (two tiles writing the two parts of one line); AVX2 on and off.
        // Destination rows of 1 KiB and an element too: 2-byte rows near whole KiB stay on the staged
        // walk where others take the joined row walk (testJoinedRowWalkIntoRowsInsideLinesMatchesTheReference).
        try Self.withEachBuildWithoutAVX512 { avx2 in
            for elementSize in [1, 2, 4, 8, 16] {
                let line = 64 / elementSize, step = 128 / elementSize
                for rows in [step * 5 + 3, 1024 / elementSize + 1] {
                    // Source rows near and far from whole KiB (1-byte steps read the far ones
                    // without their stage). The 1-byte plane's last tiles along, 131 rows, take
                    // steps of two lines a row instead of four.
                    for columns in [line * 15 + 5, line * 25 + 5] {
                        for tile in [(along: 2 * step, across: 2 * line), (along: 3 * step + 1, across: 3 * line + 5)] {
                            try Self.assertStreamedTransposeMatchesReference(rows: rows, columns: columns, elementSize: elementSize, tile: tile,
                                                                             seed: UInt64(elementSize * 31 + tile.along + rows + columns), "skewed, avx2 \(avx2)")
                        }
                    }
                }
            }
        }
    }

    func testStagedWalkOfTilesWithSourceRowsNearWholePagesMatchesTheReference() throws {
        // Without the AVX-512 walks, plain 2-, 4- and 8-byte tiles whose source rows lie within a line
        // of a multiple of 4 KiB (4096 and 4104 or 4108 bytes apart here) take the staged walk with
        // four lines of each destination row per step (256 / E source rows; for 4-byte tiles the
        // plain walk instead of the staggered one): into aligned rows (704, 1344, 2688 bytes) and rows
        // that start inside lines (323 elements; where tiles share a row's line, the flags that give it one
        // writer follow the four-line steps); tiles of whole steps and with a tail of part of a step
        // and of part of a line, the plane's last tile along too short for a four-line step (72 rows
        // of 352, 36 and 16 of 336: two lines a row, for 4-byte tiles the staggered walk); one and
        // two threads; AVX2 on and off.
        try Self.withEachBuildWithoutAVX512 { avx2 in
            for elementSize in [2, 4, 8] {
                let page = 4096 / elementSize, lines = 64 / elementSize
                let tiles = elementSize == 2 ? [(along: 256, across: 64), (along: 300, across: 53), (along: 140, across: 40)]
                          : elementSize == 4 ? [(along: 128, across: 32), (along: 209, across: 53), (along: 150, across: 40)]
                                             : [(along: 64, across: 16), (along: 100, across: 27), (along: 160, across: 40)]
                for rows in [(elementSize == 2 ? 352 : 336), 323] {
                    for columns in [page, page + Swift.max(1, 12 / elementSize)] {
                        for tile in tiles {
                            try Self.assertStreamedTransposeMatchesReference(rows: rows, columns: columns, elementSize: elementSize, tile: tile,
                                                                             seed: UInt64(rows * 7 + columns + tile.along + lines),
                                                                             "near whole pages, avx2 \(avx2)")
                        }
                    }
                }
            }
        }
    }

    func testATileWithNeighbourRowsWritesBesideItOnlyWhatItsNeighboursWrite() {
        // rl_transpose_tile on one streamed tile of a plane whose destination rows start inside
        // lines, with RL_NEIGHBOUR_ROWS source rows before and after it and the line flags
        // rl_transpose_tile_line_flags gives it between two tiles of its size: its own elements must
        // come out right, but for those of each row's last partial line that it leaves to the tile
        // after (RL_TRANSPOSE_LINES_AFTER), which it must not write; beside them it may write only
        // the first line of each row, with what the tile before puts there, and with
        // RL_TRANSPOSE_LINES_BEFORE it must. Both only on rows that take whole lines. Nothing else is
        // called, so no neighbour covers a wrong or missing byte. Without the AVX-512 walks (AVX2 on
        // and off), where the staged walk shares lines and the joined walk does not; the AVX-512
        // skewed walk, which streams those lines whole from both sides, is not run here (it was not
        // measured against this on an AVX-512 machine). Rows of the plane far from and near whole KiB.
        let neighbours = Int(RL_NEIGHBOUR_ROWS)
        Self.withEachBuildWithoutAVX512 { avx2 in
            for elementSize in [1, 2, 4, 8, 16] {
                // More than RL_MAX_CHANNELS rows across, so that 16-byte tiles take no few-channel gathers.
                let along = 512, across = Swift.max(2 * 64 / elementSize, 16) + 3, first = neighbours + 16, column = 5
                let wholeLineRows = across - across % (64 / elementSize)
                let least = first + along + neighbours
                // Source rows far from whole KiB (staged: read in place by 2-byte steps) and, for
                // 2-byte tiles, 16 to 63 bytes past a multiple of 1 KiB (1040 bytes), which the
                // joined walk takes.
                for columns in elementSize == 2 ? [200 + 3 * 64 / elementSize, 520] : [200 + 3 * 64 / elementSize] {
                    let pastKiB = (columns * elementSize) % 1024
                    let sourceInPlace = elementSize <= 2 && pastKiB >= 64 && pastKiB <= 1024 - 64
                    for planeRows in [least + 6, ((least * elementSize) / 1024 + 1) * 1024 / elementSize + 1] {
                        let nearWholeKiB = planeRows > least + 6
                        var rng = SeededGenerator(seed: UInt64(elementSize * 101 + planeRows))
                        let source = (0..<(planeRows * columns * elementSize)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                        let sentinel: UInt8 = 0xA5
                        var destination = [UInt8](repeating: sentinel, count: columns * planeRows * elementSize + 64)
                        let flags = Int32(RL_TRANSPOSE_STREAMING | RL_TRANSPOSE_WIDE | RL_TRANSPOSE_ROWS_BEFORE | RL_TRANSPOSE_ROWS_AFTER)
                        source.withUnsafeBytes { src in
                            destination.withUnsafeMutableBytes { dst in
                                // A destination that starts 64-byte aligned, so rows start where their
                                // element offsets say.
                                let base = dst.baseAddress!.advanced(by: (64 - Int(bitPattern: dst.baseAddress!) % 64) % 64)
                                let tile = base + (column * planeRows + first) * elementSize
                                let lines = rl_transpose_tile_line_flags(columns, tile, planeRows, along, across, elementSize, flags, along, along)
                                // The staged walk takes these tiles where it applies: with the AVX2 steps
                                // for 1- and 2-byte ones, whose rows far from whole KiB take the joined walk
                                // unless the staged walk reads their source rows in place; its skewed form
                                // is built for x86-64 only.
                                #if arch(x86_64)
                                let staged = elementSize > 2 || (avx2 && (elementSize == 1 || nearWholeKiB || sourceInPlace))
                                #else
                                let staged = false
                                #endif
                                XCTAssertEqual(lines, staged ? Int32(RL_TRANSPOSE_LINES_BEFORE | RL_TRANSPOSE_LINES_AFTER) : 0,
                                               "E=\(elementSize), rows of \(planeRows), \(columns) columns, avx2 \(avx2): line flags")
                                rl_transpose_tile(src.baseAddress! + (first * columns + column) * elementSize, columns, tile, planeRows, along, across,
                                                  elementSize, flags | lines)
                                rl_store_fence()
                                let shift = base - dst.baseAddress!
                                var wrong = 0, missing = 0, left = 0, unshared = 0
                                for c in 0..<columns {
                                    // Row c's first and last lines, as byte offsets from `base`.
                                    let rowStart = (c * planeRows + first) * elementSize, rowEnd = rowStart + along * elementSize
                                    let firstLine = rowStart - rowStart % 64, lastLine = rowEnd - rowEnd % 64
                                    let shares = c >= column && c < column + wholeLineRows
                                    for r in 0..<planeRows {
                                        let offset = (c * planeRows + r) * elementSize, at = shift + offset, from = (r * columns + c) * elementSize
                                        var same = true, untouched = true
                                        for k in 0..<elementSize {
                                            same = same && dst[at + k] == source[from + k]
                                            untouched = untouched && dst[at + k] == sentinel
                                        }
                                        let inside = c >= column && c < column + across && r >= first && r < first + along
                                        let leaves = inside && shares && lines & Int32(RL_TRANSPOSE_LINES_AFTER) != 0 && offset >= lastLine
                                        let takes = !inside && shares && lines & Int32(RL_TRANSPOSE_LINES_BEFORE) != 0 && r < first && offset >= firstLine
                                        if leaves {
                                            if !untouched { left += 1 }
                                        } else if takes {
                                            if !same { unshared += 1 }
                                        } else if !same {
                                            if inside { missing += 1 } else if !untouched { wrong += 1 }
                                        }
                                    }
                                }
                                let label = "E=\(elementSize), rows of \(planeRows), \(columns) columns, avx2 \(avx2)"
                                XCTAssertEqual(missing, 0, "\(label): elements of the tile")
                                XCTAssertEqual(wrong, 0, "\(label): elements beside the tile")
                                XCTAssertEqual(left, 0, "\(label): elements left to the tile after")
                                XCTAssertEqual(unshared, 0, "\(label): elements of the tile before in its rows' first lines")
                            }
                        }
                    }
                }
            }
        }
    }

    func testNeighbouringTilesAgreeOnWhichWritesTheLinesTheyShare() {
        // rl_transpose_tile_line_flags, asked by each tile of a plane about its neighbours: a tile
        // leaves its rows' last lines (RL_TRANSPOSE_LINES_AFTER) exactly where the tile after writes
        // them (RL_TRANSPOSE_LINES_BEFORE), so each byte has one writer. Planes whose last tile is a
        // whole number of steps, has a tail, or is shorter than a step; destination rows inside lines
        // and aligned; AVX2 on and off (1- and 2-byte tiles share lines only with it).
        let flags = Int32(RL_TRANSPOSE_STREAMING | RL_TRANSPOSE_WIDE)
        Self.withEachBuildWithoutAVX512 { avx2 in
            for elementSize in [1, 2, 4, 8, 16] {
                for (planeRows, extent) in [(4 * 512 + 1, 512), (3 * 512 + 64 + 1, 512), (1024 + 512 + 3, 1024), (3 * 256, 256), (1027, 1024)] {
                    let across = Swift.max(3 * 64 / elementSize, 16) + 1, count = (planeRows + extent - 1) / extent
                    let base = UnsafeRawPointer(bitPattern: 1 << 20)!
                    var sides: [Int32] = []
                    for k in 0..<count {
                        let nA = k == count - 1 ? planeRows - k * extent : extent
                        let before = k > 0 ? extent : 0, after = k == count - 1 ? 0 : (k == count - 2 ? planeRows - (k + 1) * extent : extent)
                        sides.append(rl_transpose_tile_line_flags(planeRows + 5, base + (64 + k * extent) * elementSize + elementSize, planeRows, nA, across,
                                                                  elementSize, flags, before, after))
                    }
                    let label = "E=\(elementSize), plane of \(planeRows) in tiles of \(extent), avx2 \(avx2)"
                    XCTAssertEqual(sides.first.map { $0 & Int32(RL_TRANSPOSE_LINES_BEFORE) }, 0, "\(label): the first tile")
                    XCTAssertEqual(sides.last.map { $0 & Int32(RL_TRANSPOSE_LINES_AFTER) }, 0, "\(label): the last tile")
                    for k in 0..<(count - 1) {
                        XCTAssertEqual(sides[k] & Int32(RL_TRANSPOSE_LINES_AFTER) != 0, sides[k + 1] & Int32(RL_TRANSPOSE_LINES_BEFORE) != 0,
                                       "\(label): tiles \(k) and \(k + 1)")
                    }
                    #if arch(x86_64)
                    let sharing = true
                    #else
                    let sharing = false
                    #endif
                    if sharing && planeRows == 4 * 512 + 1 && (elementSize > 2 || avx2) && elementSize != 2 {
                        XCTAssertNotEqual(sides[0] & Int32(RL_TRANSPOSE_LINES_AFTER), 0, "\(label): the first tile shares nothing")
                    }
                    // Rows that start on whole lines share none.
                    let aligned = rl_transpose_tile_line_flags(planeRows + 5, base, 64 * 64 / elementSize, extent, across, elementSize, flags, extent, extent)
                    XCTAssertEqual(aligned, 0, "\(label): aligned rows")
                }
            }
        }
    }

    func testJoinedRowWalkIntoRowsInsideLinesMatchesTheReference() throws {
        // Without the AVX-512 walks, streamed 2-byte tiles into rows that start inside lines, with
        // strides on neither side within 16 bytes of a multiple of 1 KiB, take the row walk with
        // lines joined along each row (JoinedRows.c; with AVX2 off, the row walk's own stores) where
        // the staged walk would not read their source rows in place: source rows 16 to 63 bytes
        // from a multiple of 1 KiB (970 and 1040 bytes here; those of 582 and 208 bytes go to the
        // staged walk, in place). Destination rows of an odd number of elements (every offset into
        // their lines), and of 144 (offsets 0 and 32 only); tiles along of whole lines and with a
        // tail of a block and some elements, whose last tiles are shorter than a line (no step at
        // all); columns with a tail; one and two threads.
        try Self.withEachBuildWithoutAVX512 { avx2 in
            for (rows, columns) in [(32 * 5 + 3, 32 * 15 + 5), (32 * 5 + 3, 520), (144, 32 * 9 + 3), (32 * 21 + 11, 8 * 13)] {
                for tile in [(along: 4 * 32, across: 2 * 8), (along: 4 * 32 + 8 + 3, across: 3 * 8 + 5)] {
                    try Self.assertStreamedTransposeMatchesReference(rows: rows, columns: columns, elementSize: 2, tile: tile,
                                                                     seed: UInt64(rows * 7 + columns + tile.along), "joined, avx2 \(avx2)")
                }
            }
        }
    }

    func testLineWalkOfNarrowTilesMatchesTheReference() throws {
        // 1- and 2-byte tiles whose row strides on both sides are multiples of 1 KiB (2 KiB for 1-byte
        // ones), neither streamed nor taking the wide walks: the line walk (Transpose.c's tile_lines),
        // its blocks two at a time where AVX2 is on, and with source rows a multiple of 4 KiB apart
        // through an L1 copy of the rows first. The engine's tile side and one with tails on both
        // sides; AVX2 on and off.
        try Self.withEachBuildWithoutAVX512 { avx2 in
            for (elementSize, rows, columns) in [(2, 2048, 512), (2, 512, 2048), (1, 2048, 2048), (1, 2048, 4096)] {
                for tile in [(along: 512, across: 512), (along: 300, across: 200)] {
                    var tuning = CopyTuning.defaults
                    tuning.streamingThresholdBytes = Int.max
                    tuning.inlineThresholdBytes = Int.max
                    tuning.wideTransposes = false
                    tuning.tiles[elementSize] = .init(along: tile.along, across: tile.across)
                    let source = try RawTensor(shape: [rows, columns], elementSize: elementSize)
                    var rng = SeededGenerator(seed: UInt64(rows * 3 + columns + tile.along + elementSize))
                    Self.fillRandom(source.storage, using: &rng)
                    let view = try source.permuted([1, 0])
                    let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
                    let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: 1)
                    let what = "\(elementSize) B \(rows)x\(columns) tile \(tile) avx2 \(avx2)"
                    XCTAssertFalse(plan.streaming, "\(what): \(plan)")
                    try plan.execute(from: view, into: destination)
                    Self.assertSameBytes(destination, try Self.referenceResult(view, destination), what)
                }
            }
        }
    }

    func testStagedWalkWithOrdinaryStoresMatchesTheReference() throws {
        // Without the AVX-512 walks, 1-byte tiles that are not streamed take the staged walk with
        // ordinary stores where rows on either side lie within 16 bytes of a multiple of 1 KiB:
        // aligned destination rows (source rows of 1 KiB and a byte, and of 1500 bytes, which the
        // AVX2 steps read without their stage), destination rows inside lines (the skewed form; rows
        // of 643, and of 2 KiB and a byte); the engine's tiles and ones with tails; one and two
        // threads; AVX2 on and off.
        try Self.withEachBuildWithoutAVX512 { avx2 in
            for (rows, columns) in [(640, 1025), (2048, 1500), (643, 1024), (2049, 300)] {
                for tile in [(along: 1024, across: 1024), (along: 300, across: 200)] {
                    var tuning = CopyTuning.defaults
                    tuning.streamingThresholdBytes = Int.max
                    tuning.inlineThresholdBytes = 0
                    tuning.tiles[1] = .init(along: tile.along, across: tile.across)
                    let source = try RawTensor(shape: [rows, columns], elementSize: 1)
                    var rng = SeededGenerator(seed: UInt64(rows * 7 + columns + tile.along))
                    Self.fillRandom(source.storage, using: &rng)
                    let view = try source.permuted([1, 0])
                    for threads in [1, 2] {
                        let destination = try RawTensor(shape: view.shape, elementSize: 1)
                        let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: 1, tuning: tuning, threads: threads)
                        let what = "\(rows)x\(columns) tile \(tile) avx2 \(avx2), \(threads) threads"
                        XCTAssertFalse(plan.streaming, "\(what): \(plan)")
                        try plan.execute(from: view, into: destination)
                        Self.assertSameBytes(destination, try Self.referenceResult(view, destination), what)
                    }
                }
            }
        }
    }

    func testStagedWalkOfGroupedTilesMatchesTheReference() throws {
        // Grouped tiles whose strides on one side or both are all multiples of 1 KiB, streamed,
        // without the AVX-512 walks: the staged walk through row tables (TTC's
        // 352x28x28x4x48:4,3,2,1,0 shape: rows of 1 KiB on both sides, two of them grouped per tile
        // on each side, a third left over; then destination rows of 1 KiB and a line, so that only
        // the source's strides are whole KiB, and only the destination's rows are grouped). 1-byte
        // tiles of this shape come out plain (2048 rows a side); their steps are the 2-byte ones'
        // code with another element size. 8- and 16-byte tiles take four lines a row per step, with
        // rows along of whole steps and with a tail of a line.
        Kernels.allowAVX512Transposes(false)
        defer { Kernels.allowAVX512Transposes(true) }
        defer { Kernels.allowAVX2(true) }
        for avx2 in [true, false] {
            Kernels.allowAVX2(avx2)
            for (elementSize, first) in [2, 4, 8, 16].flatMap({ e in [(e, 1024 / e), (e, 1088 / e)] }) {
                let kib = 1024 / elementSize
                var tuning = CopyTuning.defaults
                tuning.streamingThresholdBytes = 0
                tuning.tiles[elementSize] = .init(along: 2 * kib, across: 2 * kib)
                let source = try RawTensor(shape: [first, 3, 2, kib], elementSize: elementSize)
                var rng = SeededGenerator(seed: UInt64(elementSize * 7 + (avx2 ? 1 : 0)))
                Self.fillRandom(source.storage, using: &rng)
                let view = try source.permuted([3, 2, 1, 0])
                let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
                let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: 1)
                XCTAssertTrue((plan.grouped.along || first != kib) && plan.grouped.across && plan.streaming, "E=\(elementSize): \(plan)")
                try plan.execute(from: view, into: destination)
                Self.assertSameBytes(destination, try Self.referenceResult(view, destination), "E=\(elementSize) first \(first) avx2 \(avx2)")
            }
        }
    }

    func testJoinedRowWalkOfGroupedOneByteTilesMatchesTheReference() throws {
        // Grouped 1-byte tiles into destination rows that start inside lines, streamed, without the
        // AVX-512 walks: the joined row walk through row tables (JoinedRows.c; with AVX2 off, the
        // grouped row walk's ordinary stores). TTC's 112x15x15x15x5x32:5,4,3,2,1,0 and
        // 15x15x112x15x5x32:1,5,4,0,3,2 families, smaller: rows of 112 grouped along (tiles of whole
        // lines and with a tail), across groups of 32 and of 30 (a strip left part full); one and
        // two threads.
        try Self.withEachBuildWithoutAVX512 { avx2 in
            for (shape, permutation) in [([112, 7, 9, 5, 32], [4, 3, 2, 1, 0]), ([9, 7, 112, 3, 5, 30], [1, 5, 4, 0, 3, 2])] {
                for tile in [(along: 1024, across: 1024), (along: 600, across: 100)] {
                    var tuning = CopyTuning.defaults
                    tuning.streamingThresholdBytes = 0
                    tuning.inlineThresholdBytes = 0
                    tuning.tiles[1] = .init(along: tile.along, across: tile.across)
                    let source = try RawTensor(shape: shape, elementSize: 1)
                    var rng = SeededGenerator(seed: UInt64(shape.count * 100 + tile.along + (avx2 ? 1 : 0)))
                    Self.fillRandom(source.storage, using: &rng)
                    let view = try source.permuted(permutation)
                    for threads in [1, 2] {
                        let destination = try RawTensor(shape: view.shape, elementSize: 1)
                        let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: 1, tuning: tuning, threads: threads)
                        let what = "\(shape):\(permutation) tile \(tile) avx2 \(avx2), \(threads) threads"
                        XCTAssertTrue((plan.grouped.along || plan.grouped.across) && plan.streaming, "\(what): \(plan)")
                        try plan.execute(from: view, into: destination)
                        Self.assertSameBytes(destination, try Self.referenceResult(view, destination), what)
                    }
                }
            }
        }
    }

    func testBaselineBuildOfNarrowTransposesMatchesTheReference() throws {
        // 1- and 2-byte tiles (plain and grouped) and streamed tiles into rows that start inside
        // lines run AVX-512 builds of the kernels where the CPU has it; the same checks on the
        // baseline builds, whichever this machine would pick.
        Kernels.allowAVX512Transposes(false)
        defer { Kernels.allowAVX512Transposes(true) }
        try testStreamedTransposesWithRowsInsideLinesMatchTheReference()
        try testWideTransposesIntoAlignedRowsMatchTheReference()
        try testWideGroupedTransposesIntoAlignedRowsMatchTheReference()
        try testGroupedTransposesMatchTheReference()
        try testGroupedTransposesIntoRowsInsideLinesMatchTheReference()
        try testEngineMatchesReferenceOnRandomLayouts()
        try testChannelTilesMatchTheReference()
    }

    func testChannelTilesMatchTheReference() throws {
        // NHWC -> NCHW with 2 to 15 channels (source rows of C elements back to back) and back
        // (destination rows of C elements back to back) take the channel kernels with AVX-512:
        // every element size they take, pixel counts with tails, offsets into the storage, streaming
        // on and off, one and two threads (one thread: 3 x 131 pixels make a grouped tile, whose
        // rows of 131 go to the channel kernels one at a time). From 16 channels the blocks take them,
        // and the rows past the last whole block of 1- and 2-byte pixels go as one edge block.
        for elementSize in [1, 2, 4, 8, 16] {
            for channels in Array(2...17) + [20, 24, 40] {
                for (height, width) in [(7, 45), (3, 131)] {
                    for streaming in [false, true] {
                        var tuning = CopyTuning.defaults
                        tuning.streamingThresholdBytes = streaming ? 0 : Int.max
                        tuning.inlineThresholdBytes = 0
                        let source = try RawTensor(shape: [3, height, width + 1, channels], elementSize: elementSize)
                        var rng = SeededGenerator(seed: UInt64(elementSize * 1000 + channels * 10 + width))
                        Self.fillRandom(source.storage, using: &rng)
                        // A view starting one pixel in: rows still packed, start not line-aligned.
                        let packed = try source.sliced(axis: 2, start: 1, stop: width + 1)
                        let nchw = try packed.permuted([0, 3, 1, 2])
                        let planar = try RawTensor(shape: nchw.shape, elementSize: elementSize)
                        let back = try RawTensor(shape: packed.shape, elementSize: elementSize)
                        let planarView = try planar.permuted([0, 2, 3, 1])
                        for threads in [1, 2] {
                            let label = "E=\(elementSize) C=\(channels) \(height)x\(width) streaming \(streaming), \(threads) threads"
                            try CopyPlan(source: nchw.layout, destination: planar.layout, elementSize: elementSize, tuning: tuning, threads: threads).execute(from: nchw, into: planar)
                            Self.assertSameBytes(planar, try Self.referenceResult(nchw, planar), "deinterleave " + label)
                            try CopyPlan(source: planarView.layout, destination: back.layout, elementSize: elementSize, tuning: tuning, threads: threads).execute(from: planarView, into: back)
                            Self.assertSameBytes(back, try Self.referenceResult(planarView, back), "interleave " + label)
                        }
                    }
                }
            }
        }
    }

    func testPixelsWithSpareChannelsOrReadBackwardsGoIntoPlanes() throws {
        // The channel kernels take pixels of P elements of which C <= P go into planes (RGBA into RGB
        // planes), and pixels read backwards (a flipped image into planes); the last step of a row
        // is masked. Every element size they take, pixel strides 2 to 15, a subset of the channels,
        // forwards, reversed in channels, flipped in width and height, rows with tails (45 and 131
        // pixels: grouped rows of a tile, streamed through the stage, and whole rows), every kernel
        // setting.
        for elementSize in [1, 2, 4, 8] {
            for (pixel, channels) in [(2, 2), (3, 3), (4, 3), (4, 2), (5, 4), (8, 3), (15, 14), (15, 2)] where pixel * elementSize < 64 {
                for width in [45, 131] {
                    let source = try RawTensor(shape: [2, 5, width, pixel], elementSize: elementSize)
                    var rng = SeededGenerator(seed: UInt64(elementSize * 1000 + pixel * 10 + width))
                    Self.fillRandom(source.storage, using: &rng)
                    let kept = try source.sliced(axis: 3, start: 0, stop: channels)
                    let views = [("kept", kept), ("reversed channels", try kept.sliced(axis: 3, step: -1)),
                                 ("flipped", try kept.sliced(axis: 2, step: -1)),
                                 ("turned half round, channels reversed", try kept.sliced(axis: 1, step: -1).sliced(axis: 2, step: -1).sliced(axis: 3, step: -1))]
                    for (name, pixels) in views {
                        let view = try pixels.permuted([0, 3, 1, 2])
                        let expected = try Self.referenceResult(view, try RawTensor(shape: view.shape, elementSize: elementSize))
                        try Self.forEachKernelSetting(workers: [1, 2]) { threads, tuning, setting in
                            let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
                            let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: threads)
                            try plan.execute(from: view, into: destination)
                            Self.assertSameBytes(destination, expected, "E=\(elementSize) P=\(pixel) C=\(channels) W=\(width) \(name), \(setting): \(plan)")
                        }
                    }
                }
            }
        }
    }

    func testTransposesOfEveryKthColumnGoThroughAStage() throws {
        // A transpose whose across side is every k-th source column (x[:, ::k].T and the like; a
        // downsample with a change of layout): blocks of the source rows packed into an L1 stage,
        // then the register transposes (`rl_transpose_tile_spaced`). Every element size, k from 2 to
        // past a line (element by element there), forwards and backwards, stage blocks with tails
        // on both sides (300 x 700 elements: more columns than one stage block holds), a few planes
        // into pixels (the channel interleave from the stage), every kernel setting.
        for elementSize in [1, 2, 4, 8, 16] {
            for step in [2, 3, 64 / elementSize + 1, -2, -5] where abs(step) >= 2 {
                for (shape, permutation) in [([300, 700], [1, 0]), ([3, 40, 90], [1, 2, 0])] {
                    let source = try RawTensor(shape: shape, elementSize: elementSize)
                    var rng = SeededGenerator(seed: UInt64(elementSize * 1000 + abs(step) * 10 + shape[0]))
                    Self.fillRandom(source.storage, using: &rng)
                    // The stepped axis is the source's last, which the permutation moves off the end.
                    let view = try source.sliced(axis: shape.count - 1, step: step).permuted(permutation)
                    let expected = try Self.referenceResult(view, try RawTensor(shape: view.shape, elementSize: elementSize))
                    try Self.forEachKernelSetting(workers: [1, 2]) { threads, tuning, setting in
                        var tuning = tuning
                        tuning.tiles[elementSize] = .init(along: 200, across: 160)
                        let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
                        let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: threads)
                        XCTAssertEqual(plan.kernel, .transpose, "\(plan)")
                        try plan.execute(from: view, into: destination)
                        Self.assertSameBytes(destination, expected, "E=\(elementSize) step \(step) \(shape):\(permutation), \(setting): \(plan)")
                    }
                }
            }
        }
    }

    func testGroupedTilesOfPlanesIntoPixelsTakeTheChannelKernels() throws {
        // C planes of Y x X x W into X x Y x W pixels (C x Y x X x W permuted 2,1,3,0): the tile's
        // across side is W grouped with X (back to back in the source, not in the destination), and
        // each group of W goes to the channel kernels. Every element size, tails of W, both stores,
        // 1-3 workers.
        for elementSize in [1, 2, 4, 8] {
            for channels in [2, 3, 5, 8, 15] where channels * elementSize < 64 {
                let source = try RawTensor(shape: [channels, 3, 12, 70 + channels], elementSize: elementSize)
                var rng = SeededGenerator(seed: UInt64(elementSize * 100 + channels))
                Self.fillRandom(source.storage, using: &rng)
                let view = try source.permuted([2, 1, 3, 0])
                let expected = try Self.referenceResult(view, try RawTensor(shape: view.shape, elementSize: elementSize))
                try Self.forEachKernelSetting(workers: [1, 2, 3]) { threads, tuning, setting in
                    let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
                    let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, tuning: tuning, threads: threads)
                    let label = "E=\(elementSize) C=\(channels), \(setting): \(plan)"
                    XCTAssertTrue(plan.grouped.across, label)
                    try plan.execute(from: view, into: destination)
                    Self.assertSameBytes(destination, expected, label)
                }
            }
        }
    }

    func testAVX512WithoutVBMIMatchesTheReference() throws {
        // A CPU with AVX-512BW but no VBMI (Skylake-X, Cascade Lake) runs the wide walks (the
        // staged one for aligned 1- and 2-byte tiles) and the few-channel gathers of 2- to 8-byte
        // elements (2 to 15 channels), and the 16-byte kernels for 1- and 2-byte tiles into rows inside lines and for
        // 1-byte few-channel tiles; spaced columns are packed one at a time.
        Kernels.allowAVX512VBMI(false)
        defer { Kernels.allowAVX512VBMI(true) }
        try testWideTransposesIntoAlignedRowsMatchTheReference()
        try testNarrowWideWalkIntoRowsInsideLinesMatchesTheReference()
        try testStreamedTransposesWithRowsInsideLinesMatchTheReference()
        try testGroupedTransposesIntoRowsInsideLinesMatchTheReference()
        try testChannelTilesMatchTheReference()
        try testGroupedTilesOfPlanesIntoPixelsTakeTheChannelKernels()
        try testPixelsWithSpareChannelsOrReadBackwardsGoIntoPlanes()
        try testTransposesOfEveryKthColumnGoThroughAStage()
        try testQuarterTurnsOfLargeTensorsMatchTheReference()
    }

    func testPlansAreReusableAndValidateTheirInputs() throws {
        let a = try RawTensor(shape: [40, 50], elementSize: 4)
        var rng = SeededGenerator(seed: 3)
        Self.fillRandom(a.storage, using: &rng)
        let t = try a.transposed(0, 1)
        let plan = try CopyPlan(source: t.layout, destination: Layout.rowMajor([50, 40]), elementSize: 4)
        XCTAssertEqual(plan.kernel, .transpose)
        let first = try RawTensor(shape: [50, 40], elementSize: 4)
        let second = try RawTensor(shape: [50, 40], elementSize: 4)
        try plan.execute(from: t, into: first)
        try plan.execute(from: t, into: second)
        XCTAssertEqual(Self.bytes(first), Self.bytes(second))
        XCTAssertEqual(Self.bytes(first), Self.bytes(try t.contiguous()))
        XCTAssertThrowsError(try plan.execute(from: a, into: first))
        XCTAssertThrowsError(try plan.execute(from: t, into: t.contiguous().transposed(0, 1).contiguous()))
        XCTAssertThrowsError(try CopyPlan(source: a.layout, destination: t.layout, elementSize: 4))
        XCTAssertThrowsError(try CopyPlan(source: a.layout, destination: a.layout, elementSize: 4, threads: 0))
        XCTAssertThrowsError(try CopyPlan(source: a.layout, destination: a.layout, elementSize: 3))
    }

    func testPlannerGivesGroupedTilesRowsOfWholeLines() throws {
        XCTAssertEqual(CopyPlan.roundedDown(21, soThatTimes: 48, fills: 64), 20, "48 x 20 bytes = 15 lines")
        XCTAssertEqual(CopyPlan.roundedDown(10, soThatTimes: 96, fills: 64), 10, "96 x 10 bytes = 15 lines already")
        XCTAssertEqual(CopyPlan.roundedDown(3, soThatTimes: 60, fills: 64), 3, "too few to make whole lines")
        XCTAssertEqual(CopyPlan.roundedDown(34, soThatTimes: 60, fills: 64), 32)
        func plan(_ shape: [Int], _ permutation: [Int], _ elementSize: Int) throws -> CopyPlan {
            let view = try Layout.rowMajor(shape).permuted(permutation)
            return try CopyPlan(source: view, destination: Layout.rowMajor(view.shape), elementSize: elementSize, tuning: .defaults, threads: 2)
        }
        // u1: destination rows of 48 x 20 bytes (15 lines; 48 x 21 would end inside one), grouped; the
        // B x B2 = 352 x 2 destination rows a multiple of 64, as the staged walk needs.
        let narrow = try plan([28, 48, 28, 4, 352], [4, 0, 3, 2, 1], 1)
        XCTAssertEqual(narrow.tileShape.along2, 20)
        XCTAssertEqual(narrow.tileShape.across * narrow.tileShape.across2 % 64, 0)
        XCTAssertTrue(narrow.grouped.along)
        // Rows of whole lines are grouped past 16 KiB per inner transpose (352 x 48 floats) ...
        let wide = try plan([28, 352, 28, 4, 48], [4, 0, 3, 2, 1], 4)
        XCTAssertTrue(wide.grouped.along || wide.grouped.across, "\(wide)")
        // ... rows inside lines are not (f4 rows of 350 floats, 350 x 48 floats per inner transpose),
        // except 1-byte ones, at any size, where the staged walk for such rows runs (AVX-512BW and
        // VBMI; u1 rows of 352 bytes, 48 x 352 bytes per inner transpose).
        let skewed = try plan([28, 28, 350, 4, 48], [1, 3, 0, 4, 2], 4)
        XCTAssertFalse(skewed.grouped.along || skewed.grouped.across, "\(skewed)")
        let skewedBytes = try plan([28, 28, 352, 4, 48], [1, 3, 0, 4, 2], 1)
        XCTAssertEqual(skewedBytes.grouped.across, rl_narrow_rows_inside_lines_walk() != 0, "\(skewedBytes)")
        for turnOff in [Kernels.allowAVX512Transposes, Kernels.allowAVX512VBMI] {
            turnOff(false)
            defer { turnOff(true) }
            let withoutWalk = try plan([28, 28, 352, 4, 48], [1, 3, 0, 4, 2], 1)
            XCTAssertFalse(withoutWalk.grouped.along || withoutWalk.grouped.across, "\(withoutWalk)")
        }
    }

    func testSparseSourcesCountTheLinesTheyReadAgainstTheInlineThreshold() throws {
        // The inline threshold weighs the average of the bytes written and the source's bytes read
        // in lines: a downsample of 1.6 MB reads 3.1 MB and goes to the workers, while a dense
        // copy of as many bytes stays on the caller.
        var tuning = CopyTuning.defaults
        tuning.inlineThresholdBytes = 2 << 20
        func workers(_ source: Layout, elementSize: Int = 1) throws -> Int {
            try CopyPlan(source: source, destination: Layout.rowMajor(source.shape), elementSize: elementSize, tuning: tuning, threads: 2).workers
        }
        let planes = try Layout.rowMajor([3, 1080, 1920])
        XCTAssertEqual(try workers(planes.sliced(axis: 1, step: 2).sliced(axis: 2, step: 2)), 2)
        // Every other row, each read whole: little more than dense.
        XCTAssertEqual(try workers(Layout.rowMajor([3, 1080, 960]).sliced(axis: 1, step: 2)), 1)
        XCTAssertEqual(try workers(Layout.rowMajor([3, 540, 960]).permuted([0, 2, 1])), 1)
        // Pixels of 3 bytes taken every other one: 3 of every 6 bytes read.
        let pixels = try Layout.rowMajor([1080, 1920, 3])
        XCTAssertEqual(try workers(pixels.sliced(axis: 0, step: 2).sliced(axis: 1, step: 2)), 2)
        // The weights themselves: dense, every other element, one element 400 bytes apart (its line
        // read, counted as the element and 64 bytes), 3 of every 6, and a broadcast (nothing more).
        typealias D = CopyPlan.Dimension
        XCTAssertEqual(CopyPlan.movedBytes(copying: 6000, dims: [D(size: 10, source: 150, destination: 150), D(size: 150, source: 1, destination: 1)], elementSize: 4), 6000)
        XCTAssertEqual(CopyPlan.movedBytes(copying: 6000, dims: [D(size: 10, source: 300, destination: 150), D(size: 150, source: 2, destination: 1)], elementSize: 4), 9000)
        XCTAssertEqual(CopyPlan.movedBytes(copying: 6000, dims: [D(size: 1500, source: 100, destination: 1)], elementSize: 4), (6000 + 6000 / 4 * 68) / 2)
        XCTAssertEqual(CopyPlan.movedBytes(copying: 900, dims: [D(size: 100, source: 6, destination: 3), D(size: 3, source: 1, destination: 1)], elementSize: 1), 1350)
        XCTAssertEqual(CopyPlan.movedBytes(copying: 900, dims: [D(size: 100, source: 0, destination: 9), D(size: 9, source: 1, destination: 1)], elementSize: 1), 900)
    }

    func testPlannerFusesAndOrdersDimensions() throws {
        let a = try Layout.rowMajor([4, 5, 6])
        let bulk = try CopyPlan(source: a, destination: a, elementSize: 4)
        XCTAssertEqual(bulk.kernel, .bulk)
        XCTAssertEqual(bulk.loops.count, 1, "a contiguous copy fuses to one run")
        let permuted = try a.permuted([0, 2, 1])
        XCTAssertEqual(try CopyPlan(source: permuted, destination: Layout.rowMajor(permuted.shape), elementSize: 4).kernel, .permutedBlocks,
                       "a batch of 4 blocks of 5 x 6 (120 bytes) transposed")
        let larger = try Layout.rowMajor([4, 50, 60]).permuted([0, 2, 1])
        let plan = try CopyPlan(source: larger, destination: Layout.rowMajor(larger.shape), elementSize: 4)
        XCTAssertEqual(plan.kernel, .transpose)
        let reversed = try a.sliced(axis: 2, step: -1)
        XCTAssertEqual(try CopyPlan(source: reversed, destination: reversed, elementSize: 2).kernel, .bulk, "negative destination strides are flipped")
        XCTAssertEqual(try CopyPlan(source: Layout.rowMajor([6]).expanded(to: [4, 6]).transposed(0, 1), destination: Layout.rowMajor([6, 4]), elementSize: 8).kernel, .fill)
        XCTAssertEqual(try CopyPlan(source: a.sliced(axis: 2, step: 2), destination: Layout.rowMajor([4, 5, 3]), elementSize: 1).kernel, .gather)
        let tiny = try CopyPlan(source: a, destination: a, elementSize: 1, tuning: .defaults)
        XCTAssertEqual(tiny.workers, 1, "copies under the inline threshold stay on the caller")
        // A copy past the inline threshold whose tile would swallow it is cut into tiles for every worker.
        let square = try Layout.rowMajor([1024, 1024])
        var oneTile = CopyTuning.defaults
        oneTile.tiles[4] = .init(along: 1024, across: 1024)
        oneTile.inlineThresholdBytes = 1 << 20
        let split = try CopyPlan(source: square.transposed(0, 1), destination: square, elementSize: 4, tuning: oneTile, threads: 2)
        XCTAssertEqual(split.workers, 2)
        XCTAssertGreaterThanOrEqual(split.workItems, 8)
    }
}
