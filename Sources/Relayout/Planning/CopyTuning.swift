/// The knobs of the copy engine. Built-in defaults are measured on a 2-core AMD EPYC (32 KiB L1d,
/// 1 MiB L2 per core); `relayout tune` measures them for the machine it runs on.
public struct CopyTuning: Codable, Hashable, Sendable {
    /// The 2-D tile, in elements: `along` is the destination's stride-1 dimension, `across` the
    /// source's stride-1 dimension.
    public struct Tile: Codable, Hashable, Sendable {
        public var along: Int
        public var across: Int
        public init(along: Int, across: Int) {
            self.along = along
            self.across = across
        }
    }

    /// Transpose tile per element size in bytes (1, 2, 4, 8, 16).
    public var tiles: [Int: Tile]
    /// Elements of a contiguous or strided 1-D run processed as one work item, in bytes.
    public var runBytes: Int
    /// For copies made of short contiguous runs (at most ``CopyPlan/shortRunBytes``): the bytes one
    /// tile of runs covers. A tile takes about √(area / run) runs along the destination's next
    /// dimension and as many along the source's, so both sides move in stretches of about
    /// √(area × run) bytes and the tile stays cache-sized whatever the run length.
    public var runTileAreaBytes: Int
    /// Bytes a worker claims at a time.
    public var chunkBytes: Int
    /// Bytes a worker claims at a time when the destination is fresh memory (`contiguous()`,
    /// `clone()`): large enough that the workers fault in different huge pages instead of queueing
    /// on the same one.
    public var freshChunkBytes: Int
    /// How many worker slots may fault in a fresh destination's pages at once, ahead of the copy
    /// (on one node; the others copy the chunks whose pages are in). Machines differ: on a 2-core
    /// Intel VM two slots faulting measured 17 ms for 211 MB against 36 for one; on a 2-core AMD VM
    /// two were no faster, and far slower in phases where the host had taken the memory back.
    public var freshPopulators: Int
    /// Whether streamed transposes walk by source rows with whole 64-byte register blocks, two
    /// consecutive lines of each destination row per step, one whole line per store (AVX-512 only;
    /// 1- and 2-byte tiles go through an L1 stage, and into rows that start inside lines also need
    /// VBMI), instead of the 16-byte row walk. On a 2-core Intel VM: TTC 0.85-0.88 -> 1.12-1.16 of memcpy;
    /// not measured on AMD, so `relayout tune` measures it.
    public var wideTransposes: Bool
    /// Whether the AVX-512 walks (`wideTransposes`) take 4-byte tiles two 16 × 16 blocks per step, one
    /// above the other (32 source rows read, two consecutive lines into each destination row), rather
    /// than one (16 rows, one line). Two measured faster on a 2-core Intel Xeon VM with a 12-way
    /// 48 KiB L1d (f4 8192² 29-31 -> 37-41 GB/s); one on a 2-core AMD EPYC Zen 4 VM with an 8-way
    /// 32 KiB L1d (f4 TTC plus 2-D set, three rounds alternating per case: 1.175x GB/s, ratio to
    /// memcpy 0.908 -> 1.096), where 8- and 16-byte tiles, which read 16 and 8 rows a step, still gain from
    /// two (0.93x, 0.91x with one). The default follows the L1d's associativity
    /// (``CopyTuning/l1DataCacheWays``): two blocks from 12 ways, or where it is unknown; `relayout
    /// tune` measures it.
    public var wideFourByteBlockPairs: Bool
    /// Where the AVX-512 walks do not run (AMD Zen 3 and earlier, Intel CPUs without AVX-512, or
    /// `wideTransposes` off): whether streamed transposes of 1-, 2- and 4-byte elements take the
    /// staged walk (128 / E source rows' lines staged in L1, two whole lines per destination row per
    /// step) at every row stride, rather than only where a stride is a multiple of 1 KiB or the
    /// destination's rows start inside lines. (8- and 16-byte tiles take it at every stride
    /// whatever this says: TTC shapes, two alternating rounds, 1.22x and 1.20x GB/s on an AMD Zen 3
    /// VM; f8 1.135x on the Intel VM with AVX-512 turned off.) Off by default: on a 2-core AMD Zen 3
    /// VM the 16-byte row walk measured as fast or faster at other strides (f4 7264² 20.1 against
    /// 19.1 GB/s, u2 16.3 against 14.5; grouped tiles 0.80-0.96x staged); on another, TTC f4 1.01x,
    /// u1 1.01x, u2 0.96x; on the Intel VM with AVX-512 turned off f4 1.038x, u2 1.036x, u1 1.139x;
    /// per case 0.59-1.89x either way (f4 43408x1216 14.1 -> 24.5 GB/s, 28x28x48x4x352:1,3,0,4,2
    /// 34.6 -> 20.5), so `relayout tune` measures it.
    public var stagedTransposesAtAnyStride: Bool
    /// Whether transposes and tiles of short runs take their work items along the source's rows: the
    /// loop that carries on a tile's source rows (the source followed from the across side through
    /// every dimension the tile covers whole, to the first it does not) runs innermost, and a chunk
    /// holds up to 1 MiB of such consecutive items. One worker then reads each row on as one stream,
    /// which the hardware prefetcher follows into the next item; otherwise the items go by the
    /// destination. TTC on a 2-core Intel VM, 6 alternating runs: runs with a case under 0.75 of
    /// memcpy 6 -> 2, the worst per-case median 0.676 -> 0.794; 2-D transposes too (f4 4097x4099
    /// 34 -> 46 GB/s). Tiles of short runs (eleventh session), TTC's 12 such shapes in 1- to 16-byte
    /// elements: 1.13x on the geometric mean, u2 `15x15x103x15x10x16:4,1,0,3,2,5` 0.46 -> 0.74 of
    /// memcpy, u1 `298x28x28x8x32:1,3,2,0,4` 0.51 -> 1.06, whose source rows are 5 or fewer lines.
    public var followsSourceRows: Bool
    /// Copies of at most this many bytes skip planning: a plain strided loop on the caller's thread.
    public var directCopyBytes: Int
    /// Copies that move fewer bytes than this run on the caller's thread. By default 1.25 MiB: a
    /// copy whose source and destination together outgrow one core's L2 (2 MiB on the Xeons
    /// measured) gains from a second core's. 2-core Emerald Rapids VM, workers against the caller,
    /// 3 rounds alternating: from 1.3 MB (c16 256x320, f8 400x420, u2 800x820, f4 600², 1.5 MiB bulk
    /// copies) 1.47-1.81x; around 1 MB even (f4 500², u1 1000², u2 724², f8 362²: 0.95-1.06x); f4
    /// 480² (0.9 MB) and 512² (in the L2, across repetitions) 0.58-0.60x.
    public var inlineThresholdBytes: Int
    /// Destinations at least this large are written with non-temporal (streaming) stores where the
    /// kernel supports them; `Int.max` disables streaming. The default depends on the CPU (see
    /// ``streamingThresholdByDefault``).
    public var streamingThresholdBytes: Int
    /// Copies whose destination is at least this large read their source from memory rather than
    /// from cache (source and destination together outgrow the last-level cache): the AVX-512 walk
    /// into destination rows that start inside lines then fetches its source lines ahead in
    /// software, since its loads, which start inside lines where the source's rows do, leave the
    /// hardware prefetchers a line behind. On a 2-core Emerald Rapids VM (260 MiB L3), 2 threads,
    /// alternating: f4 7263x7265 (211 MB) 1.11-1.25x GB/s, c16 5001x3001 1.16x; but copies held in
    /// the L3 lost (f4 4097x4099 and 2047x4099, 67 and 34 MB: 0.85x). `Int.max` never fetches. The
    /// default is half the last-level cache (``fetchAheadThresholdByDefault``).
    public var fetchAheadThresholdBytes: Int

    public init(tiles: [Int: Tile], runBytes: Int, runTileAreaBytes: Int = 40 << 10, chunkBytes: Int, freshChunkBytes: Int = 8 << 20, freshPopulators: Int = 2, wideTransposes: Bool = true,
                wideFourByteBlockPairs: Bool = CopyTuning.pairsFourByteBlocksByDefault, stagedTransposesAtAnyStride: Bool = false, followsSourceRows: Bool = true, directCopyBytes: Int = 4096, inlineThresholdBytes: Int, streamingThresholdBytes: Int,
                fetchAheadThresholdBytes: Int = CopyTuning.fetchAheadThresholdByDefault) {
        self.tiles = tiles
        self.runBytes = runBytes
        self.runTileAreaBytes = runTileAreaBytes
        self.chunkBytes = chunkBytes
        self.freshChunkBytes = freshChunkBytes
        self.freshPopulators = freshPopulators
        self.wideTransposes = wideTransposes
        self.wideFourByteBlockPairs = wideFourByteBlockPairs
        self.stagedTransposesAtAnyStride = stagedTransposesAtAnyStride
        self.followsSourceRows = followsSourceRows
        self.directCopyBytes = directCopyBytes
        self.inlineThresholdBytes = inlineThresholdBytes
        self.streamingThresholdBytes = streamingThresholdBytes
        self.fetchAheadThresholdBytes = fetchAheadThresholdBytes
    }

    /// The size of this machine's level-3 cache as sysfs reports it (`relayout info` shows it); nil
    /// where it reports none.
    public static let lastLevelCacheBytes: Int? = {
        let bytes = Topology.readCaches(root: "").l3
        return bytes > 0 ? bytes : nil
    }()

    /// ``fetchAheadThresholdBytes``' default: half the last-level cache, so that a copy whose source
    /// and destination together outgrow it fetches ahead; 16 MiB where its size is unknown.
    public static let fetchAheadThresholdByDefault = (lastLevelCacheBytes ?? (32 << 20)) / 2

    /// The ways of this CPU's level-1 data cache, where the C library reports them (glibc reads
    /// CPUID on x86); nil where it does not.
    public static let l1DataCacheWays: Int? = {
        #if canImport(Glibc)
        let ways = sysconf(Int32(_SC_LEVEL1_DCACHE_ASSOC))
        return ways > 0 ? ways : nil
        #else
        return nil
        #endif
    }()

    /// ``streamingThresholdBytes``' default for a CPU of this model name: 4 MiB on Intel Xeons, 16
    /// MiB elsewhere. Where ordinary stores overflow the L2, a Xeon writes them back through its
    /// mesh L3 at about the cost of memory, so streaming pays once the destination outgrows the
    /// L2: on a 2-core Emerald Rapids VM (2 MiB L2), 2 threads, alternating, streamed transposes of
    /// 4 MiB ran 1.3-2.0x as fast as with ordinary stores (f4 1024² 21 -> 36 GB/s, u1 2048² 19 ->
    /// 29), 8 MiB 1.2-1.5x, bulk copies of 4 MiB 1.0-1.3x, while 1 MiB lost (f4 512² 0.72x, c16
    /// 256² 0.79x) and 2 MiB was even; `relayout tune` on a Sapphire Rapids VM also chose 4 MiB. On
    /// an AMD EPYC (Zen 4, 32 MiB L3 per 8 cores) ordinary stores won at 4 and 8 MiB, so other
    /// CPUs keep 16 MiB until `relayout tune` measures them.
    public static func streamingThreshold(forCPUModel model: String) -> Int {
        model.contains("Xeon") ? 4 << 20 : 16 << 20
    }

    /// ``streamingThreshold(forCPUModel:)`` for this machine's CPU.
    public static let streamingThresholdByDefault = streamingThreshold(forCPUModel: Topology.cpuModel())

    /// ``wideFourByteBlockPairs``'s default: pairs unless the L1d is known to have fewer than 12 ways.
    public static var pairsFourByteBlocksByDefault: Bool { (l1DataCacheWays ?? 12) >= 12 }

    /// The built-in defaults.
    public static let defaults = CopyTuning(
        tiles: [
            1: Tile(along: 1024, across: 1024), 2: Tile(along: 512, across: 512), 4: Tile(along: 512, across: 512),
            8: Tile(along: 256, across: 256), 16: Tile(along: 128, across: 128),
        ],
        runBytes: 64 << 10,
        runTileAreaBytes: 40 << 10,
        chunkBytes: 256 << 10,
        freshChunkBytes: 8 << 20,
        freshPopulators: 2,
        wideTransposes: true,
        wideFourByteBlockPairs: pairsFourByteBlocksByDefault,
        stagedTransposesAtAnyStride: false,
        followsSourceRows: true,
        directCopyBytes: 4096,
        inlineThresholdBytes: 1280 << 10,
        streamingThresholdBytes: streamingThresholdByDefault,
        fetchAheadThresholdBytes: fetchAheadThresholdByDefault
    )

    enum CodingKeys: String, CodingKey {
        case tiles, runBytes, runTileAreaBytes, chunkBytes, freshChunkBytes, freshPopulators, wideTransposes, wideFourByteBlockPairs, stagedTransposesAtAnyStride, followsSourceRows, directCopyBytes, inlineThresholdBytes, streamingThresholdBytes, fetchAheadThresholdBytes
    }

    // Tiles are keyed by element size; JSON objects need string keys ("4": {...}).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let named = try c.decode([String: Tile].self, forKey: .tiles)
        var tiles = [Int: Tile]()
        for (key, tile) in named {
            guard let size = Int(key), RawTensor.supportedElementSizes.contains(size), tile.along > 0, tile.across > 0 else {
                throw DecodingError.dataCorruptedError(forKey: .tiles, in: c, debugDescription: "bad tile entry '\(key)'")
            }
            tiles[size] = tile
        }
        self.init(
            tiles: tiles,
            runBytes: try c.decode(Int.self, forKey: .runBytes),
            // Profiles written before the knob existed carry `runTileBytes`, a per-side stretch with
            // another meaning: it is ignored and the default area applies.
            runTileAreaBytes: try c.decodeIfPresent(Int.self, forKey: .runTileAreaBytes) ?? CopyTuning.defaults.runTileAreaBytes,
            chunkBytes: try c.decode(Int.self, forKey: .chunkBytes),
            // Absent from profiles written before the knob existed.
            freshChunkBytes: try c.decodeIfPresent(Int.self, forKey: .freshChunkBytes) ?? CopyTuning.defaults.freshChunkBytes,
            freshPopulators: try c.decodeIfPresent(Int.self, forKey: .freshPopulators) ?? CopyTuning.defaults.freshPopulators,
            wideTransposes: try c.decodeIfPresent(Bool.self, forKey: .wideTransposes) ?? CopyTuning.defaults.wideTransposes,
            wideFourByteBlockPairs: try c.decodeIfPresent(Bool.self, forKey: .wideFourByteBlockPairs)
                ?? CopyTuning.defaults.wideFourByteBlockPairs,
            stagedTransposesAtAnyStride: try c.decodeIfPresent(Bool.self, forKey: .stagedTransposesAtAnyStride)
                ?? CopyTuning.defaults.stagedTransposesAtAnyStride,
            followsSourceRows: try c.decodeIfPresent(Bool.self, forKey: .followsSourceRows) ?? CopyTuning.defaults.followsSourceRows,
            directCopyBytes: try c.decode(Int.self, forKey: .directCopyBytes),
            inlineThresholdBytes: try c.decode(Int.self, forKey: .inlineThresholdBytes),
            streamingThresholdBytes: try c.decode(Int.self, forKey: .streamingThresholdBytes),
            // Absent from profiles written before the knob existed: this machine's default.
            fetchAheadThresholdBytes: try c.decodeIfPresent(Int.self, forKey: .fetchAheadThresholdBytes) ?? CopyTuning.fetchAheadThresholdByDefault)
        let sizes = [runBytes, runTileAreaBytes, chunkBytes, freshChunkBytes, freshPopulators]
        guard sizes.allSatisfy({ $0 > 0 }), directCopyBytes >= 0, inlineThresholdBytes >= 0, streamingThresholdBytes >= 0,
              fetchAheadThresholdBytes >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .runBytes, in: c, debugDescription: "sizes must be positive")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Dictionary(uniqueKeysWithValues: tiles.map { (String($0.key), $0.value) }), forKey: .tiles)
        try c.encode(runBytes, forKey: .runBytes)
        try c.encode(runTileAreaBytes, forKey: .runTileAreaBytes)
        try c.encode(chunkBytes, forKey: .chunkBytes)
        try c.encode(freshChunkBytes, forKey: .freshChunkBytes)
        try c.encode(freshPopulators, forKey: .freshPopulators)
        try c.encode(wideTransposes, forKey: .wideTransposes)
        try c.encode(wideFourByteBlockPairs, forKey: .wideFourByteBlockPairs)
        try c.encode(stagedTransposesAtAnyStride, forKey: .stagedTransposesAtAnyStride)
        try c.encode(followsSourceRows, forKey: .followsSourceRows)
        try c.encode(directCopyBytes, forKey: .directCopyBytes)
        try c.encode(inlineThresholdBytes, forKey: .inlineThresholdBytes)
        try c.encode(streamingThresholdBytes, forKey: .streamingThresholdBytes)
        try c.encode(fetchAheadThresholdBytes, forKey: .fetchAheadThresholdBytes)
    }

    /// The transpose tile for an element size.
    public func tile(elementSize: Int) -> Tile {
        tiles[elementSize] ?? Tile(along: Swift.max(1, 128 / elementSize), across: Swift.max(1, 128 / elementSize))
    }
}

import Synchronization
#if canImport(Glibc)
import Glibc
#endif

extension CopyTuning {
    private static let activeStorage = Locked<CopyTuning?>(nil)

    /// The tuning every copy uses unless a plan is made with another: on first use, the profile the
    /// documented lookup finds (``ActiveProfile``), else the built-in defaults; callers may set it.
    public static var active: CopyTuning {
        get {
            if let tuning = activeStorage.withLock({ $0 }) { return tuning }
            return ActiveProfile.resolution.tuning
        }
        set { installActive(newValue) }
    }

    static func installActive(_ tuning: CopyTuning) {
        activeStorage.withLock {
            $0 = tuning
            activeDirectCopy.store(tuning.directCopyBytes, ordering: .relaxed)
        }
    }

    /// The active tuning's `directCopyBytes` (-1 until a tuning is in force), so that the smallest
    /// copies decide on the direct loop without taking the lock and copying the whole tuning (perf
    /// of 1 KiB copies: 5 % of the samples in taking the tuning, 25 % in retains and releases).
    private static let activeDirectCopy = Atomic<Int>(-1)

    /// Whether a copy of `bytes` bytes takes the direct loop under the active tuning.
    static func activeTakesDirectCopy(bytes: Int) -> Bool {
        let limit = activeDirectCopy.load(ordering: .relaxed)
        return bytes <= (limit >= 0 ? limit : active.directCopyBytes)
    }
}
