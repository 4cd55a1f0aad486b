import CRelayoutKernels

/// A planned copy between two layouts of one shape: dimensions normalised, fused and ordered, a kernel
/// chosen, the iteration space tiled and cut into chunks. Planning allocates; executing does not, so a
/// plan made once can run many times over new storages (the data loader's fast path).
public struct CopyPlan: Sendable {
    /// The leaf routine a plan runs on each work item.
    public enum Kernel: String, Sendable {
        /// Both sides contiguous along the innermost dimension: runs of `memcpy`.
        case bulk
        /// The source walks with a small or no stride-1 dimension: a strided 1-D loop.
        case gather
        /// The source repeats one element along the innermost dimension (stride 0).
        case fill
        /// The source's and the destination's stride-1 dimensions differ: 2-D cache-blocked tiles.
        case transpose
        /// Both sides are dense blocks of a few elements back to back, each block permuted the same
        /// way (a batch of small matrices transposed): one stream of register permutes.
        case permutedBlocks
        /// Blocks that are runs of a few units reversed (BGR pixels into RGB), back to back on both
        /// sides but across each other (the image also turned a quarter): the register run
        /// transposes, which reverse the units in their first permute (`rl_transpose_flipped_runs`).
        /// Where the CPU no longer offers those (VBMI turned off after planning), the tiles go
        /// through the permuted blocks instead.
        case flippedRuns
    }

    /// One loop of the nest over work items, outermost first. A tiled loop counts tiles; `extent` is
    /// the tile's size along its dimension (1 for an untiled loop) and `lastExtent` that of the last,
    /// possibly partial, tile.
    @usableFromInline
    struct Loop: Sendable {
        var count: Int
        var sourceStep: Int
        var destinationStep: Int
        var extent: Int
        var lastExtent: Int
    }

    /// A dimension after normalisation: its size and strides in elements.
    struct Dimension: Equatable {
        var size: Int
        var source: Int
        var destination: Int
        static let absent = Dimension(size: 1, source: 0, destination: 0)
    }

    public let sourceLayout: Layout
    public let destinationLayout: Layout
    public let elementSize: Int
    /// The bytes the plan moves as one element: ``elementSize``, or a run of 2 to 8 contiguous
    /// elements where every run of the copy is that short on both sides (see ``widening(of:elementSize:)``).
    /// Loops, strides and offsets count these units.
    public let unitSize: Int
    public let kernel: Kernel
    /// Worker threads the plan runs on (1: the caller's thread only).
    public let workers: Int
    /// How many slots may fault in a fresh destination's pages at once (``CopyTuning/freshPopulators``).
    let freshPopulators: Int
    /// `rl_transpose_tile`'s flags: streaming, the wide walk (``CopyTuning/wideTransposes``) and its
    /// 4-byte steps (``CopyTuning/wideFourByteBlockPairs``), the staged walk at any stride
    /// (``CopyTuning/stagedTransposesAtAnyStride``).
    let transposeFlags: Int32
    /// Whether the destination is written with non-temporal stores (large copies, where the machine
    /// has them): it skips reading destination lines before overwriting them.
    public let streaming: Bool

    /// Contiguous runs up to this many bytes are "short": the bulk kernel tiles them over the next
    /// dimensions of both sides. Longer runs already read and write long stretches by themselves.
    public static let shortRunBytes = 4096
    /// With ``CopyTuning/followsSourceRows``: a chunk holds up to this many bytes of consecutive work
    /// items along the source's rows (at least `chunkBytes`). 256 KiB, 4 MiB and 16 MiB measured within
    /// noise of 1 MiB on the TTC suite (docs/performance.md, tenth session).
    static let sourceRunChunkBytes = 1 << 20
    /// Units of work (tiles or runs) and how many a worker claims at once.
    public let workItems: Int
    public let itemsPerChunk: Int
    /// Whether the innermost loop over work items carries on the source's rows instead of going by
    /// the destination (``CopyTuning/followsSourceRows``).
    let innermostFollowsSource: Bool
    /// The tile of one work item, in elements per dimension role: `along` is the destination's
    /// stride-1 dimension and `along2` the next one out; `across` is the source's stride-1 dimension
    /// (transposes) and `across2` the source's next one out; `along3` and `across3` continue a grouped
    /// side one dimension further (see ``grouped``). Absent roles are 1.
    public let tileShape: (along: Int, along2: Int, along3: Int, across: Int, across2: Int, across3: Int)

    let loops: [Loop]
    let along: Dimension, along2: Dimension, along3: Dimension, across: Dimension, across2: Dimension, across3: Dimension
    let alongLoop: Int, along2Loop: Int, along3Loop: Int, acrossLoop: Int, across2Loop: Int, across3Loop: Int
    let sourceOffset: Int
    let destinationOffset: Int
    /// For ``Kernel/permutedBlocks`` and ``Kernel/flippedRuns``: element i of each destination
    /// block is element `blockPermutation[i]` of its source block, and `blockTable` is the kernel's
    /// table for it (empty where only the element-by-element path takes such blocks).
    let blockPermutation: [Int32]
    let blockTable: [UInt8]

    /// Whether tiles go through the C register-transpose micro-kernel: the destination is stride-1
    /// along one tile side and the source stride-1 along the other.
    var registerTranspose: Bool { along.destination == 1 && across.source == 1 }

    /// Whether tiles go through the register transposes with their across side turned round: the
    /// source's stride-1 dimension read backwards (a quarter turn, `x.T[::-1]`; BGR pixels into RGB
    /// planes). The tile then reads its source columns forwards and writes its destination rows from
    /// the last one up. Planes into pixels (a tile's A side a few channels, back to back in the
    /// destination) go to `rl_interleave_reversed_planes` first.
    var flipsAcross: Bool { along.destination == 1 && across.source == -1 }

    /// Which sides of a register transpose's tile run as one grouped kernel call
    /// (rl_transpose_tile_grouped): A whole and continued by A2 in the destination, B whole and
    /// continued by B2 in the source. A grouped side whose second dimension is whole may go on into a
    /// third (A3, B3), so that its rows come to whole lines (see `init`).
    public let grouped: (along: Bool, across: Bool)

    /// The number of chunks workers claim.
    public var chunkCount: Int { workItems == 0 ? 0 : (workItems + itemsPerChunk - 1) / itemsPerChunk }

    /// Bytes the copy moves (each element read once and written once).
    public var payloadBytes: Int { destinationLayout.count * elementSize }

    /// Plans a copy of `source` into `destination`, which must have the same shape (broadcast the
    /// source first). `threads` caps the workers (default: ``Parallelism/defaultThreadCount``).
    public init(source: Layout, destination: Layout, elementSize: Int, tuning: CopyTuning = .active, threads: Int? = nil) throws {
        try RawTensor.checkElementSize(elementSize)
        guard source.shape == destination.shape else {
            throw RelayoutError.shapeMismatch("cannot plan a copy from shape \(source.shape) to \(destination.shape)")
        }
        let threadLimit = threads ?? Parallelism.defaultThreadCount
        guard threadLimit >= 1 else { throw RelayoutError.invalidArgument("thread count must be at least 1, got \(threadLimit)") }
        sourceLayout = source
        destinationLayout = destination
        self.elementSize = elementSize

        var (dims, sourceOffset, destinationOffset) = CopyPlan.normalisedDimensions(source: source, destination: destination)
        let widening = CopyPlan.widening(of: (dims, sourceOffset, destinationOffset), elementSize: elementSize)
        if widening > 1 {
            dims.removeLast()
            dims = dims.map { Dimension(size: $0.size, source: $0.source / widening, destination: $0.destination / widening) }
            sourceOffset /= widening
            destinationOffset /= widening
        }
        // From here on the plan counts units: runs of `widening` elements.
        let copiedBytes = destination.count * elementSize
        let elementSize = elementSize * widening
        unitSize = elementSize
        self.destinationOffset = destinationOffset
        if dims.isEmpty { dims = [Dimension(size: destination.isEmpty ? 0 : 1, source: 1, destination: 1)] }
        let permutedBlock = CopyPlan.permutedBlock(of: dims, elementSize: elementSize)
        // A block that reads a dimension backwards starts before the element destination 0 reads.
        self.sourceOffset = sourceOffset + (permutedBlock?.sourceShift ?? 0)
        if let (depth, permutation, _) = permutedBlock {
            // From here on a block is one run, and the dimensions outside it batch the blocks.
            dims = Array(dims.dropLast(depth)) + [Dimension(size: permutation.count, source: 1, destination: 1)]
            blockPermutation = permutation
            blockTable = CopyPlan.blockTable(for: permutation, elementSize: elementSize)
        } else {
            blockPermutation = []
            blockTable = []
        }
        let a = dims.count - 1
        let inner = dims[a]

        // Roles: index into `dims` of along (A), along2 (A2), across (B), across2 (B2), and tile sizes.
        let budget = tuning.tile(elementSize: elementSize)
        let runElements = Swift.max(1, tuning.runBytes / elementSize)
        var roleA2: Int? = nil, roleB: Int? = nil, roleB2: Int? = nil, roleA3: Int? = nil, roleB3: Int? = nil
        var tileA = 1, tileA2 = 1, tileB = 1, tileB2 = 1, tileA3 = 1, tileB3 = 1
        func sourceNext(after d: Dimension, excluding: [Int?]) -> Int? {
            dims.indices.first { k in !excluding.contains(k) && dims[k].source == d.size * d.source && d.source != 0 }
        }
        let destinationNext: Int? = a >= 1 && dims[a - 1].destination == inner.size * inner.destination ? a - 1 : nil

        if let (_, permutation, _) = permutedBlock {
            tileA = inner.size
            // Items of blocks along the batch's innermost dimension, about 16 KiB, in whole steps of
            // the register kernel (lcm(block bytes, 64)).
            roleA2 = a - 1
            let blockBytes = permutation.count * elementSize
            let perStep = 64 / CopyPlan.greatestCommonDivisor(blockBytes, 64)
            tileA2 = Swift.min(dims[a - 1].size, Swift.max(perStep, (16 << 10) / blockBytes / perStep * perStep))
            // Where the batch's blocks lie apart in the source along it but back to back along
            // another batch dimension, items tile both, as a transpose of blocks: 64 x 64 blocks,
            // each source row read in one stretch while the tile is in cache. Blocks that are runs
            // of whole units reversed (BGR pixels), back to back on both sides (the source's
            // forwards or backwards), go to the run transposes instead, which reverse the units in
            // their first permute, in their bands (``Kernel/flippedRuns``).
            let reversedRuns = permutation.count >= 2 && permutation == (0..<Int32(permutation.count)).reversed()
                && dims[a - 1].destination == permutation.count && rl_short_runs_transpose(blockBytes) != 0
            let across = dims[a - 1].source == permutation.count ? nil : dims.indices.first { k in
                k < a - 1 && dims[k].size > 1 && (dims[k].source == permutation.count || (reversedRuns && dims[k].source == -permutation.count))
            }
            kernel = reversedRuns && across != nil ? .flippedRuns : .permutedBlocks
            if let k = across {
                roleB2 = k
                if reversedRuns {
                    tileA2 = CopyPlan.balancedTile(dims[a - 1].size, perTile: CopyPlan.runTransposeBand(destinationRowBytes: dims[k].destination * elementSize))
                    tileB2 = CopyPlan.balancedTile(dims[k].size, perTile: 256)
                } else {
                    tileB2 = Swift.min(dims[k].size, 64)
                    tileA2 = Swift.min(dims[a - 1].size, Swift.max(perStep, 64 / perStep * perStep))
                }
            }
        } else if inner.source == 0 {
            kernel = .fill
            tileA = Swift.min(runElements, inner.size)
        } else if inner.source == 1 && inner.destination == 1 {
            kernel = .bulk
            let runBytes = inner.size * elementSize
            if runBytes > CopyPlan.shortRunBytes {
                tileA = Swift.min(runElements, inner.size)
            } else {
                // Short runs: tile runs over the destination's and the source's next dimensions, so
                // both sides are read and written in long stretches; as many runs per side as keep
                // the tile near `runTileAreaBytes` (320-byte runs: 11 per side, 1856-byte runs: 4).
                tileA = inner.size
                roleA2 = destinationNext
                roleB2 = sourceNext(after: inner, excluding: [a, roleA2])
                if roleB2 == nil, roleA2 != nil, rl_short_runs_transpose(runBytes) != 0 {
                    // The source's runs back to back but backwards (an image rotated a quarter turn):
                    // the run transposes read each row's window from its far end.
                    roleB2 = dims.indices.first { k in k != a && k != roleA2 && dims[k].source == -inner.size && dims[k].size > 1 }
                }
                let perSide = Swift.max(1, Int((Double(tuning.runTileAreaBytes) / Double(runBytes)).squareRoot()))
                // Even tiles: 32 runs with 25 per side become 16 + 16, not 25 + 7.
                func balanced(_ size: Int) -> Int { CopyPlan.balancedTile(size, perTile: perSide) }
                if let k = roleA2 { tileA2 = balanced(dims[k].size) }
                if let k = roleB2 { tileB2 = balanced(dims[k].size) }
                if let k = roleA2, dims[k].source == -inner.size || dims[k].source > inner.size, roleB2 == nil {
                    // Runs read backwards, or spaced apart, into runs back to back (a flipped image's
                    // pixels; a channel dropped from each): one stretch of about 16 KiB per item
                    // (SteppedRows.c), not a square tile.
                    tileA2 = Swift.min(dims[k].size, Swift.max(tileA2, (16 << 10) / runBytes))
                }
                if let k2 = roleA2, let kb = roleB2, rl_short_runs_transpose(runBytes) != 0 {
                    // Runs back to back on both sides, across each other: the kernel transposes them
                    // in registers (RunTranspose.c), N = 64 / (runs padded to 4, 8, 16 or 32 bytes) at a
                    // time, so the tile is a band of source rows (runTransposeBand), each destination
                    // row's stretch long enough for whole lines, by 256 runs along the source's rows
                    // (2 threads, 3 rounds, GB/s against 116 x 116: u1 1088 x 1920 x 3 with the
                    // first two axes swapped 17.6 -> 26.6, f4 1024 x 1024 x 3 17.6 -> 28.7, u1 1024
                    // x 1024 x 15 18.4 -> 30.8).
                    tileA2 = CopyPlan.balancedTile(dims[k2].size, perTile: CopyPlan.runTransposeBand(destinationRowBytes: dims[kb].destination * elementSize))
                    tileB2 = CopyPlan.balancedTile(dims[kb].size, perTile: 256)
                }
            }
        } else {
            // The transpose partner: the dimension the source walks most densely, when that beats
            // the innermost one.
            var partner: Int? = nil
            for k in 0..<a where dims[k].source != 0 {
                if abs(dims[k].source) < abs(partner.map { dims[$0].source } ?? inner.source) { partner = k }
            }
            if let b = partner {
                kernel = .transpose
                roleB = b
                tileA = Swift.min(budget.along, inner.size)
                tileB = Swift.min(budget.across, dims[b].size)
                if tileA == inner.size, let k = destinationNext, k != b {
                    roleA2 = k
                    tileA2 = Swift.min(dims[k].size, Swift.max(1, budget.along / inner.size))
                }
                if tileB == dims[b].size, let k = sourceNext(after: dims[b], excluding: [a, b, roleA2]) {
                    roleB2 = k
                    tileB2 = Swift.min(dims[k].size, Swift.max(1, budget.across / dims[b].size))
                }
            } else {
                kernel = .gather
                tileA = Swift.min(runElements, inner.size)
            }
        }
        tileA = Swift.max(tileA, 1)

        // A copy worth parallelising needs several tiles per worker: shrink tiles that swallow it.
        let bytes = copiedBytes
        let movedBytes = CopyPlan.movedBytes(copying: bytes, dims: dims, elementSize: elementSize)
        if threadLimit > 1 && movedBytes >= tuning.inlineThresholdBytes {
            func items() -> Int {
                dims.enumerated().reduce(1) { total, entry in
                    let (k, d) = entry
                    let t = k == a ? tileA : k == roleA2 ? tileA2 : k == roleB ? tileB : k == roleB2 ? tileB2 : 1
                    return total * ((d.size + t - 1) / t)
                }
            }
            let minimum = Swift.max(1, 16 / elementSize)
            while items() < 4 * threadLimit {
                if tileA2 > 1 || tileB2 > 1 {
                    if tileA2 >= tileB2 { tileA2 = (tileA2 + 1) / 2 } else { tileB2 = (tileB2 + 1) / 2 }
                } else if Swift.max(tileA, tileB) > minimum, kernel != .permutedBlocks, kernel != .flippedRuns { // a block is never split
                    if tileA >= tileB { tileA = (tileA + 1) / 2 } else { tileB = (tileB + 1) / 2 }
                } else {
                    break
                }
            }
        }

        // Work items with the tiles so far, and with dimension k3 tiled by t instead; whether a
        // parallel copy keeps four of them per worker.
        let parallel = threadLimit > 1 && movedBytes >= tuning.inlineThresholdBytes
        func keepsItems(tiling k3: Int, by t: Int) -> Bool {
            guard parallel else { return true }
            let items = dims.indices.reduce(1) { total, k in
                let tile = k == k3 ? t : k == a ? tileA : k == roleA2 ? tileA2 : k == roleA3 ? tileA3 : k == roleB ? tileB : k == roleB2 ? tileB2 : 1
                return total * ((dims[k].size + tile - 1) / tile)
            }
            return items >= 4 * threadLimit
        }

        // Grouped tiles' rows in whole lines where a smaller tile allows it: the destination rows of
        // A x A2 elements whole 64-byte lines (A2 rounded down, or up where no multiple fits), and for 1- and 2-byte elements the
        // B x B2 destination rows whole multiples of a line's 64 / E, so that the staged walk's
        // steps take whole lines of source columns (it takes any multiple of 16 / E).
        // TTC in u1, two alternating rounds: geometric mean 1.08x (u1 28x48x28x4x352:4,0,3,2,1, rows
        // of 48 x 21 -> 48 x 20 bytes: 12 -> 21 GB/s); f4 and u2 within noise.
        if kernel == .transpose, let k = roleA2, tileA == inner.size, inner.destination == 1, dims[k].destination == inner.size, tileA2 < dims[k].size {
            // Not below the 256 bytes a destination row needs to stream (see `fillsLines`).
            let rounded = CopyPlan.roundedDown(tileA2, soThatTimes: tileA * elementSize, fills: 64)
            if rounded * tileA * elementSize >= 256 { tileA2 = rounded }
            // Where no multiple of whole lines fits the budget, up to the fewest rows that make them,
            // within twice the budget: u1 75x608x12x96:3,0,2,1 and 608x75x12x96:3,2,1,0, rows of 608
            // bytes -> 1216 (grouped then), one thread, six alternating rounds: 1.35x and 1.23x GB/s.
            let step = CopyPlan.fewestCopies(of: tileA * elementSize, filling: 64)
            if tileA2 < step, step <= dims[k].size, step * tileA <= 2 * budget.along, keepsItems(tiling: k, by: step) { tileA2 = step }
        }
        if kernel == .transpose, elementSize <= 2, let b = roleB, let k = roleB2, tileB == dims[b].size, tileB2 < dims[k].size {
            tileB2 = CopyPlan.roundedDown(tileB2, soThatTimes: tileB, fills: 64 / elementSize)
        }
        // Grouped tiles whose destination rows are whole aligned lines take the wide walks through
        // row tables at any size (1-byte ones up to 64 KiB per inner transpose: u1 384x59x2320:2,1,0
        // 0.98 -> 0.85 of memcpy beyond it); TTC, four alternating rounds against a 64 KiB limit: the
        // 11 f4 cases that change 1.22x (f4 28x352x28x4x48:4,0,3,2,1 0.87 -> 1.42). Other tiles group
        // only small inner transposes: 352x48 floats (66 KiB) per call measured slower grouped (23 ->
        // 18 GB/s), 32x32 to 48x48 floats (4-9 KiB) much faster (21 -> 37-42 GB/s).
        if kernel == .transpose, inner.destination == 1, let b = roleB, dims[b].source == 1 {
            let alongGroup = roleA2.map { tileA == inner.size && dims[$0].destination == inner.size && tileA2 > 1 } ?? false
            let acrossGroup = roleB2.map { tileB == dims[b].size && dims[$0].source == dims[b].size && tileB2 > 1 } ?? false
            let fits = rl_transpose_grouped_fits(tileA * (alongGroup ? tileA2 : 1), tileB * (acrossGroup ? tileB2 : 1)) != 0
            let rowBytes = tileA * (alongGroup ? tileA2 : 1) * elementSize
            let wholeLines = rowBytes % 64 == 0 && (destinationOffset * elementSize) % 64 == 0 && (dims[b].destination * elementSize) % 64 == 0
                && (!acrossGroup || roleB2.map { (dims[$0].destination * elementSize) % 64 == 0 } ?? true)
            // 1-byte tiles into rows that are not whole lines group at any size: the skewed staged walk
            // (NarrowWide.c) then reads each source row's grouped run in one pass rather than a piece
            // per call (TTC in u1, two threads, four to six alternating rounds: 608x75x12x96:3,2,1,0
            // 11.9-14.0 -> 14.6-19.8 GB/s, 28x28x48x4x352:1,3,0,4,2 18.1 -> 22.7,
            // 28x28x352x4x48:1,3,0,4,2 16.0-17.2 -> 18.2-20.8, 2320x59x384:2,1,0 (786 KB per tile)
            // unchanged; no 2- or 4-byte plan changes with the limit lifted for them). Only where that
            // walk runs: the kernels of a CPU without AVX-512 measured 9.2 -> 6.4 GB/s on the first case
            // grouped, those of one without VBMI 0.536 -> 0.515 of memcpy on the five cases that change.
            let narrowSkewedWalk = elementSize == 1 && rl_narrow_rows_inside_lines_walk() != 0
            let limit = elementSize == 1 ? (wholeLines ? 64 << 10 : narrowSkewedWalk ? Int.max : 16 << 10) : wholeLines ? Int.max : 16 << 10
            grouped = fits && tileA * tileB * elementSize <= limit ? (alongGroup, acrossGroup) : (false, false)
        } else {
            grouped = (false, false)
        }
        // A grouped side goes on into a third dimension where its rows are short of what the walks
        // need: destination rows (A x A2) to whole lines, so that no partial band of a tile goes to
        // the 16-byte blocks (u1 32x15x15x15x5x112:5,4,3,2,1,0, rows of 480 bytes -> 960); source rows
        // (B x B2) to at least `groupedSourceRowBytes`, so that each row is read in long runs (u1
        // 112x15x15x15x5x32:5,4,3,2,1,0, rows of 160 bytes -> 480).
        func continued(_ k: Int, alongSource: Bool) -> Int? {
            dims.indices.first { j in
                ![a, roleA2, roleA3, roleB, roleB2].contains(j) && dims[j].size > 1
                    && (alongSource ? dims[j].source != 0 && dims[j].source == dims[k].size * dims[k].source
                                    : dims[j].destination == dims[k].size * dims[k].destination)
            }
        }
        // Not where that would leave a parallel copy fewer than four items per worker.
        if grouped.along, let k = roleA2, tileA2 == dims[k].size, (tileA * tileA2 * elementSize) % 64 != 0, let k3 = continued(k, alongSource: false) {
            let step = CopyPlan.fewestCopies(of: tileA * tileA2 * elementSize, filling: 64)
            if step <= dims[k3].size, keepsItems(tiling: k3, by: step), rl_transpose_grouped_fits(tileA * tileA2 * step, tileB * tileB2) != 0 {
                roleA3 = k3
                tileA3 = step
            }
        }
        if grouped.across, let k = roleB2, tileB2 == dims[k].size, tileB * tileB2 * elementSize < CopyPlan.groupedSourceRowBytes(elementSize: elementSize),
           let k3 = continued(k, alongSource: true) {
            let wanted = (CopyPlan.groupedSourceRowBytes(elementSize: elementSize) + tileB * tileB2 * elementSize - 1) / (tileB * tileB2 * elementSize)
            let tiles = (dims[k3].size + wanted - 1) / wanted
            let t = (dims[k3].size + tiles - 1) / tiles
            if t > 1, keepsItems(tiling: k3, by: t), rl_transpose_grouped_fits(tileA * tileA2 * tileA3, tileB * tileB2 * t) != 0 {
                roleB3 = k3
                tileB3 = t
            }
        }
        var loops = [Loop]()
        var alongLoop = -1, along2Loop = -1, along3Loop = -1, acrossLoop = -1, across2Loop = -1, across3Loop = -1
        for (k, d) in dims.enumerated() {
            let t: Int
            switch k {
            case a: t = tileA; alongLoop = loops.count
            case roleA2: t = tileA2; along2Loop = loops.count
            case roleB: t = tileB; acrossLoop = loops.count
            case roleB2: t = tileB2; across2Loop = loops.count
            case roleA3: t = tileA3; along3Loop = loops.count
            case roleB3: t = tileB3; across3Loop = loops.count
            default: t = 1
            }
            let count = d.size == 0 ? 0 : (d.size + t - 1) / t
            loops.append(Loop(count: count, sourceStep: d.source * t, destinationStep: d.destination * t,
                              extent: t, lastExtent: d.size - Swift.max(count - 1, 0) * t))
        }
        // Work items along the source's rows (``CopyTuning/followsSourceRows``): the loop that carries
        // on the tile's source rows runs innermost. From the tile's outermost across dimension, the
        // source is followed through every dimension the tile covers whole (the along side's too,
        // where its rows lie back to back in the source) to the first with more than one tile: the
        // across side's own where the tile ends inside it, else the one that continues the source.
        // Bulk copies of long runs (one run per item) follow the dimension that continues the
        // source's run, so that consecutive items read one stretch of the source: its runs start
        // where the hardware prefetchers are already streaming (2-core Intel Xeon VM, TTC c16 runs
        // of 5.9-34 KiB, 0.71-0.84 -> 0.84-0.87 of memcpy; f4 and f8 384x64x2144:1,0,2 0.77-0.83 ->
        // 0.86-0.88).
        var followLoop: Int? = nil
        if tuning.followsSourceRows, kernel == .transpose || kernel == .bulk, var k = roleB3 ?? roleB2 ?? roleB ?? (kernel == .bulk ? sourceNext(after: inner, excluding: [a]) : nil) {
            var steps = 0
            while loops[k].count == 1, steps < dims.count,
                  let next = dims.indices.first(where: { dims[$0].source != 0 && dims[$0].source == dims[k].size * dims[k].source }) {
                k = next
                steps += 1
            }
            if loops[k].count > 1 {
                loops.append(loops.remove(at: k))
                func moved(_ l: Int) -> Int { l < 0 ? l : l == k ? loops.count - 1 : l > k ? l - 1 : l }
                (alongLoop, along2Loop, acrossLoop, across2Loop) = (moved(alongLoop), moved(along2Loop), moved(acrossLoop), moved(across2Loop))
                (along3Loop, across3Loop) = (moved(along3Loop), moved(across3Loop))
                followLoop = loops.count - 1
            }
        }
        innermostFollowsSource = followLoop != nil
        self.loops = loops
        (self.alongLoop, self.along2Loop, self.acrossLoop, self.across2Loop) = (alongLoop, along2Loop, acrossLoop, across2Loop)
        (self.along3Loop, self.across3Loop) = (along3Loop, across3Loop)
        along = inner
        along2 = roleA2.map { dims[$0] } ?? .absent
        across = roleB.map { dims[$0] } ?? .absent
        across2 = roleB2.map { dims[$0] } ?? .absent
        along3 = roleA3.map { dims[$0] } ?? .absent
        across3 = roleB3.map { dims[$0] } ?? .absent
        tileShape = (tileA, tileA2, tileA3, tileB, tileB2, tileB3)
        workItems = destination.isEmpty ? 0 : loops.reduce(1) { $0 * $1.count }

        let itemBytes = Swift.max(1, tileA * tileA2 * tileA3 * tileB * tileB2 * tileB3 * elementSize)
        var perChunk = Swift.max(1, tuning.chunkBytes / itemBytes)
        // A worker reads the source rows on through several items: the prefetcher's stream from one
        // item carries into the next only on the same core.
        if let l = followLoop { perChunk = Swift.max(perChunk, Swift.min(loops[l].count, Swift.max(1, CopyPlan.sourceRunChunkBytes / itemBytes))) }
        // Enough chunks for every worker to get several, so uneven chunks still balance.
        let wanted = Swift.min(threadLimit * 4, Swift.max(1, workItems))
        if workItems / perChunk < wanted { perChunk = Swift.max(1, workItems / wanted) }
        itemsPerChunk = perChunk
        let chunks = workItems == 0 ? 0 : (workItems + perChunk - 1) / perChunk
        // Streaming stores pay only when they fill whole cache lines in a row; partial lines written
        // around the cache are slower than ordinary stores.
        var destinationRun = tileA * (roleA2 == nil ? 1 : tileA2) * tileA3 * elementSize
        // Whole destination rows of whole lines, with B next to A in the destination: the tile's rows
        // lie back to back, one contiguous stretch of tileA x tileB elements, written line by line
        // through the kernel's staging buffer (e.g. 28x28x48x28x48:1,3,0,4,2, rows of 48 floats).
        // 1- and 2-byte rows that are not whole lines stream too where 16 / E of them make whole
        // lines: the kernel stages such strips in L1 (u1 75x96x75x96:2,0,3,1, rows of 96 bytes).
        if roleA2 == nil, let b = roleB, tileA == inner.size, dims[b].destination == inner.size,
           (tileA * elementSize) % 64 == 0 || rl_transpose_strips_pack(tileA, elementSize) != 0 {
            destinationRun = tileA * tileB * elementSize
        }
        // Short runs stream when the tile writes a long contiguous stretch of them (see
        // rl_copy_run_tile) and every run starts 16-byte aligned relative to the next. From 512
        // bytes: u1 runs of 16 and 32 bytes (stretches of 512-800 bytes) 0.40-0.53 -> 0.90-0.93 of
        // memcpy; 256 measured no better.
        let runStretch = roleA2 != nil && (tileA * elementSize) % 16 == 0 && tileA * tileA2 * elementSize >= 512
        // Transposed runs (RunTranspose.c) stream each destination row's stretch from an L1 stage.
        let runTranspose = roleA2 != nil && roleB2 != nil && tileA == inner.size && rl_short_runs_transpose(tileA * elementSize) != 0
        let fillsLines = kernel == .permutedBlocks || kernel == .flippedRuns || (kernel == .bulk && (tileA * elementSize >= 1024 || runStretch || runTranspose))
            || (kernel == .transpose && inner.destination == 1 && across.source != 0 && abs(across.source) * elementSize <= 64 && destinationRun >= 256)
        streaming = bytes >= tuning.streamingThresholdBytes && fillsLines && rl_has_streaming_stores() != 0
        freshPopulators = tuning.freshPopulators
        transposeFlags = (streaming ? Int32(RL_TRANSPOSE_STREAMING) : 0) | (tuning.wideTransposes ? Int32(RL_TRANSPOSE_WIDE) : 0)
            | (tuning.stagedTransposesAtAnyStride ? Int32(RL_TRANSPOSE_STAGED_ANY_STRIDE) : 0)
            | (tuning.wideFourByteBlockPairs ? 0 : Int32(RL_TRANSPOSE_WIDE_SINGLE_BLOCKS))
            | (streaming && bytes >= tuning.fetchAheadThresholdBytes ? Int32(RL_TRANSPOSE_FETCH_AHEAD) : 0)
        workers = movedBytes < tuning.inlineThresholdBytes ? 1 : Swift.max(1, Swift.min(threadLimit, chunks))
    }

    /// What the inline threshold weighs a copy of `bytes` destination bytes by: the average of its
    /// writes and its reads, the source counted in the lines it touches. A source read a few
    /// elements apart (a downsample, `x[:, ::2, ::2]`) brings in whole lines for the elements it
    /// takes, up to 64 / E bytes read per element; a dense copy counts its destination bytes, as the
    /// threshold was measured. 2 threads against the caller alone, 4 rounds, GB/s: u1 1080×1920×3
    /// `[::2, ::2]` (1.6 MB) 12.3 -> 17.3, the same into planes 13.3 -> 18.6, f4 3×540×960
    /// `[:, ::2, ::2]` 14.5 -> 18.5, u2 32×224×224×3:0,2,1,3`[10:-10, ::2, ::-1, ::-1]` 5.7 -> 8.2,
    /// u1 3×1080×1920 `[:, ::2, ::2]` 9.5 -> 10.4 (its 9 chunks split 5 and 4).
    static func movedBytes(copying bytes: Int, dims: [Dimension], elementSize: Int) -> Int {
        // The source's innermost dense run (its stride-1 dimension and those that continue it),
        // then the first gap: `run` elements read every `stride`.
        var run = 1
        for (stride, size) in dims.filter({ $0.size > 1 && $0.source != 0 }).map({ (abs($0.source), $0.size) }).sorted(by: { $0.0 < $1.0 }) {
            if stride == run {
                run *= size
                continue
            }
            guard stride > run else { break } // overlapping reads: no more than dense
            let read = Swift.min(stride * elementSize, run * elementSize + 64)
            return (bytes + bytes / (run * elementSize) * read) / 2
        }
        return bytes
    }

    /// The fewest copies of `size` that make a multiple of `unit` (480-byte rows: 2 for whole lines).
    static func fewestCopies(of size: Int, filling unit: Int) -> Int { unit / greatestCommonDivisor(size, unit) }

    /// The greatest common divisor of two positive integers.
    static func greatestCommonDivisor(_ x: Int, _ y: Int) -> Int {
        var (g, r) = (y, x % y)
        while r != 0 { (g, r) = (r, g % r) }
        return g
    }

    /// Grouped source rows shorter than this continue into a third dimension (see `init`). 1- and
    /// 2-byte rows to 384 bytes (u1 112x15x15x15x5x32:5,4,3,2,1,0, rows of 160 -> 480: 1.15x GB/s on
    /// two threads; 1024 measured no better for them: TTC paired u1 1.007x, u2 0.995x); wider
    /// elements' to 1024 (f4 112x15x15x15x5x32, rows of 640 -> 1280, and 352x28x28x4x48:4,3,2,1,0,
    /// 768 -> 1536: six rounds alternating, 1.19x and 1.05x GB/s on two threads, 1.44x and 1.10x on
    /// one; no f8 or c16 TTC plan changes).
    static func groupedSourceRowBytes(elementSize: Int) -> Int { elementSize <= 2 ? 384 : 1024 }

    /// Source rows per band of the run transposes (RunTranspose.c): 64 where destination rows are
    /// whole lines, else 128, so that fewer of each destination stretch's lines are partial (u1
    /// 1080 x 1920 x 3, rows of 3240 bytes: 18.1 GB/s at 64, 21.1 at 128; 1088 x 1920 x 3: 26.6 at
    /// 64, 23.1 at 128).
    static func runTransposeBand(destinationRowBytes: Int) -> Int { destinationRowBytes % 64 == 0 ? 64 : 128 }

    /// Tiles of about `perTile` over `size`, evened out (300 at 128: 3 tiles of 100, not 128 + 128 +
    /// 44).
    static func balancedTile(_ size: Int, perTile: Int) -> Int {
        let tiles = (size + perTile - 1) / perTile
        return (size + tiles - 1) / tiles
    }

    /// `count` rounded down to a multiple of the fewest copies of `size` that make a multiple of
    /// `unit`, where `count` holds at least that many (else `count`).
    static func roundedDown(_ count: Int, soThatTimes size: Int, fills unit: Int) -> Int {
        let step = fewestCopies(of: size, filling: unit)
        return count >= step ? count - count % step : count
    }

    /// How many elements the plan moves as one unit: the innermost run's length where it is
    /// contiguous on both sides, 2, 4, 8 or 16 bytes long, and every other stride and both offsets
    /// are multiples of it (else 1). Such copies are transposes of those units, which the transpose
    /// kernels take at memory speed, where moving each run on its own costs a few cycles per run
    /// (2 threads: u1 32x100000x4:1,0,2 0.18 of memcpy as runs of 4 bytes; 16-byte runs, 3 rounds,
    /// GB/s: f4 1024 x 1024 x 4 with the first two axes swapped 23.2 -> 53.7, u1 TTC
    /// 15x15x32x15x32x16:4,1,0,3,2,5 36.1 -> 59.9, 15x15x103x15x10x16:4,1,0,3,2,5 28.3 -> 36.1).
    static func widening(of normalised: (dims: [Dimension], sourceOffset: Int, destinationOffset: Int), elementSize: Int) -> Int {
        let dims = normalised.dims
        guard dims.count >= 2, let inner = dims.last, inner.source == 1, inner.destination == 1, inner.size >= 2,
              [2, 4, 8, 16].contains(inner.size * elementSize) else { return 1 }
        let r = inner.size
        guard normalised.sourceOffset % r == 0, normalised.destinationOffset % r == 0,
              dims.dropLast().allSatisfy({ $0.source % r == 0 && $0.destination % r == 0 }) else { return 1 }
        return r
    }

    /// Where the copy is a batch of small dense blocks: how many innermost dimensions make the block,
    /// and the permutation of its elements (element i of a destination block is element
    /// `permutation[i]` of its source block, which starts `sourceShift` elements from the element
    /// destination element 0 reads: 0, or less where the source reads a block dimension backwards);
    /// else nil. The block is the fewest innermost dimensions (two or more, or one that the source
    /// reads backwards: RGB -> BGR, x[..., ::-1]) that are dense on both sides (the source's strides
    /// by their size), and every dimension outside it batches blocks,
    /// with any strides (N x 3 x 3 with the last two axes swapped: blocks of 9 elements; B x H x 3 x
    /// 4 with B and H swapped as well). Blocks up to 64 bytes go through register permutes; up to
    /// 256 bytes of 2-byte or wider elements, element by element, which still beats a work item per
    /// block (2 threads, ratio to memcpy: f8 N x 3 x 3 0.20 -> 0.96, f4 N x 8 x 8 0.46 -> 0.79, u2 N
    /// x 12 x 10 0.30 -> 0.42), but not for 1-byte elements (u1 N x 16 x 16 0.33 -> 0.27).
    static func permutedBlock(of dims: [Dimension], elementSize: Int) -> (depth: Int, permutation: [Int32], sourceShift: Int)? {
        guard dims.count >= 2 else { return nil }
        for depth in 1..<dims.count {
            let block = Array(dims.suffix(depth))
            // One dimension read forwards is a run, not a block.
            if depth == 1 && block[0].source >= 0 { continue }
            let size = block.reduce(1) { $0 * $1.size }
            guard size * elementSize <= (elementSize >= 2 ? 256 : 64) else { return nil }
            // Dense on both sides: ordered by stride, each stride is the product of the sizes inside it.
            func dense(_ strides: [Int]) -> Bool {
                var expected = 1
                for (stride, extent) in zip(strides, block.map(\.size)).sorted(by: { $0.0 < $1.0 }) {
                    guard stride == expected else { return false }
                    expected *= extent
                }
                return true
            }
            guard dense(block.map { abs($0.source) }), dense(block.map(\.destination)) else { continue }
            let shift = block.reduce(0) { $0 + ($1.source < 0 ? ($1.size - 1) * $1.source : 0) }
            // Destination element i (row-major over the block's dimensions, which go by destination stride).
            return (depth, (0..<size).map { i in
                var rest = i, from = 0
                for d in block.reversed() {
                    from += (rest % d.size) * d.source
                    rest /= d.size
                }
                return Int32(from - shift)
            }, shift)
        }
        return nil
    }

    /// `rl_permute_blocks`' register table for `permutation` (empty where the register path does
    /// not take such blocks).
    static func blockTable(for permutation: [Int32], elementSize: Int) -> [UInt8] {
        var table = [UInt8](repeating: 0, count: rl_block_permute_table_bytes(permutation.count, elementSize))
        if !table.isEmpty {
            table.withUnsafeMutableBytes { t in
                permutation.withUnsafeBufferPointer { rl_block_permute_build(t.baseAddress, $0.baseAddress, permutation.count, elementSize) }
            }
        }
        return table
    }

    /// Drops size-1 dimensions, makes destination strides positive (flipping both sides), orders
    /// dimensions by destination stride (outermost first) and fuses neighbours that are contiguous
    /// with each other on both sides.
    static func normalisedDimensions(source: Layout, destination: Layout) -> ([Dimension], Int, Int) {
        var sourceOffset = source.offset, destinationOffset = destination.offset
        var dims = [Dimension]()
        for axis in 0..<destination.rank where destination.shape[axis] != 1 {
            var d = Dimension(size: destination.shape[axis], source: source.strides[axis], destination: destination.strides[axis])
            if d.destination < 0 {
                destinationOffset += (d.size - 1) * d.destination
                sourceOffset += (d.size - 1) * d.source
                d.destination = -d.destination
                d.source = -d.source
            }
            dims.append(d)
        }
        dims.sort { ($0.destination, abs($0.source)) > ($1.destination, abs($1.source)) }
        var fused = [Dimension]()
        for d in dims {
            if let last = fused.last, last.source == d.source * d.size, last.destination == d.destination * d.size {
                fused[fused.count - 1] = Dimension(size: last.size * d.size, source: d.source, destination: d.destination)
            } else {
                fused.append(d)
            }
        }
        return (fused, sourceOffset, destinationOffset)
    }

    /// One line saying how the copy runs: kernel, tile, streaming, work split (for `relayout bench`'s
    /// `--plans` and for debugging a slow copy).
    public var description: String {
        let t = tileShape
        var parts = [unitSize == elementSize ? "\(kernel.rawValue), \(elementSize)-byte elements"
                     : "\(kernel.rawValue), \(unitSize)-byte units (runs of \(unitSize / elementSize) \(elementSize)-byte elements)",
                     "tile \(t.along)x\(t.along2)\(t.along3 > 1 ? "x\(t.along3)" : "") along, \(t.across)x\(t.across2)\(t.across3 > 1 ? "x\(t.across3)" : "") across",
                     "\(workItems) items in \(chunkCount) chunks, \(workers) worker\(workers == 1 ? "" : "s")"]
        if grouped.along || grouped.across { parts.append("grouped \(grouped.along ? "along" : "")\(grouped.along && grouped.across ? "+" : "")\(grouped.across ? "across" : "")") }
        if innermostFollowsSource { parts.append("items along the source's rows") }
        parts.append(streaming ? "streaming stores" : "ordinary stores")
        if kernel == .transpose && transposeFlags & Int32(RL_TRANSPOSE_FETCH_AHEAD) != 0 { parts.append("source fetched ahead where rows start inside lines") }
        return parts.joined(separator: "; ")
    }
}
