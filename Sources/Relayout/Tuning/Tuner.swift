#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CRelayoutKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Progress of a tuning run, for a progress bar.
public struct TuningProgress: Sendable {
    public var done: Int
    public var total: Int
    public var label: String
}

/// Measures the engine's knobs on this machine and picks the winners.
///
/// Each knob is swept in turn with the others held at their best values so far: the transpose tile
/// per element size, the run tile of short bulk runs, the chunk size, the wide transpose walk (its
/// 4-byte steps and its source fetching ahead past the last-level cache with it), the
/// order of transposes' and short-run tiles' work items (along the source's rows or by the destination), the
/// number of slots that fault in a fresh destination's pages at once (timed with the allocation,
/// against memcpy into fresh memory), then the streaming-store and inline thresholds. A
/// candidate's score is the geometric mean, over the knob's cases, of its ratio to memcpy of the
/// same bytes measured in the same run (so drift in the machine cancels), each a median of several
/// runs. A challenger replaces the incumbent only when it wins by more than `margin`, so noise does
/// not churn the profile. Finally the tuned values are checked against the
/// built-in defaults on TTC cases; if they do not win there, the defaults are kept.
public struct Tuner {
    public var quick: Bool
    public var threads: Int
    /// Relative win a challenger needs over the incumbent.
    public var margin = 0.02
    /// Source bytes of the generated cases.
    public var caseBytes: Int
    public var fingerprint: MachineFingerprint

    public init(quick: Bool, threads: Int, fingerprint: MachineFingerprint = .current) {
        self.quick = quick
        self.threads = threads
        self.caseBytes = quick ? 24 << 20 : 64 << 20
        self.fingerprint = fingerprint
    }

    /// The candidate tiles (elements along × across) for an element size: sides of 256 B to 4 KiB.
    public func tileCandidates(elementSize: Int) -> [CopyTuning.Tile] {
        let sides = quick ? [(512, 512), (1024, 1024), (2048, 2048), (4096, 512), (512, 4096), (2048, 512)]
            : [256, 512, 1024, 2048, 4096].flatMap { a in [256, 512, 1024, 2048, 4096].map { (a, $0) } }
        return sides.map { CopyTuning.Tile(along: Swift.max(1, $0.0 / elementSize), across: Swift.max(1, $0.1 / elementSize)) }
    }

    /// 2-D transposes with power-of-two and odd sides, NHWC↔NCHW, 4-D and 6-D permutations.
    public func tileCases(elementSize: Int) -> [TuningCase] {
        let e = elementSize
        let side = 1 << Int((log2(Double(caseBytes / e)) / 2).rounded(.down))
        var cases = [
            TuningCase(elementSize: e, shape: [side, side], permutation: [1, 0]),
            TuningCase(elementSize: e, shape: [side + 1, side + 3], permutation: [1, 0]),
            TuningCase.scaled(elementSize: e, shape: [1, 224, 224, 3], permutation: [0, 3, 1, 2], bytes: caseBytes),
            TuningCase.scaled(elementSize: e, shape: [1, 3, 224, 224], permutation: [0, 2, 3, 1], bytes: caseBytes),
            TuningCase.scaled(elementSize: e, shape: [1, 96, 75, 96], permutation: [3, 0, 2, 1], bytes: caseBytes),
        ]
        if !quick {
            cases.append(TuningCase.scaled(elementSize: e, shape: [1, 15, 32, 15, 15, 32], permutation: [1, 5, 4, 0, 3, 2], bytes: caseBytes))
            cases.append(TuningCase.scaled(elementSize: e, shape: [1, 28, 28, 28, 48], permutation: [4, 3, 2, 1, 0], bytes: caseBytes))
        }
        return cases
    }

    /// Bulk copies made of short runs (80 and 16 elements) and a stepped slice.
    public var runCases: [TuningCase] {
        [TuningCase.scaled(elementSize: 4, shape: [1, 75, 16, 80], permutation: [2, 1, 0, 3], bytes: caseBytes),
         TuningCase.scaled(elementSize: 4, shape: [1, 15, 32, 15, 32, 16], permutation: [4, 1, 0, 3, 2, 5], bytes: caseBytes)]
    }

    var chunkCases: [TuningCase] {
        tileCases(elementSize: 4).prefix(2) + runCases.prefix(1)
            + [TuningCase.scaled(elementSize: 4, shape: [1, 1024], permutation: [0, 1], step: 2, bytes: caseBytes)]
    }

    /// Streamed 4-byte transposes into aligned rows and into rows that start inside lines, the two
    /// AVX-512 walks whose steps ``CopyTuning/wideFourByteBlockPairs`` sets.
    var blockPairCases: [TuningCase] { Array(tileCases(elementSize: 4).prefix(2)) }

    /// Streamed transposes, 4-, 8- and 1-byte elements (the 1-byte walk is a kernel of its own).
    var wideCases: [TuningCase] {
        blockPairCases + Array(tileCases(elementSize: 8).prefix(1)) + Array(tileCases(elementSize: 1).prefix(1))
    }

    /// 2-D transposes (4 bytes, power-of-two and odd sides; 16 bytes, odd sides), whose tiles end
    /// inside the source's rows, a 6-D one whose tiles read 640-byte source rows (streamed in
    /// quick mode too: 21.5 MB), and a bulk copy of 32-byte runs, whose tiles the knob orders too
    /// (TTC's 298x28x28x8x32:1,3,2,0,4 in 1-byte elements: 0.51 -> 1.06 of memcpy followed).
    var followCases: [TuningCase] {
        Array(tileCases(elementSize: 4).prefix(2)) + [tileCases(elementSize: 16)[1],
         TuningCase.scaled(elementSize: 4, shape: [1, 112, 5, 15, 5, 32], permutation: [0, 5, 4, 3, 2, 1], bytes: caseBytes),
         TuningCase.scaled(elementSize: 1, shape: [1, 28, 28, 8, 32], permutation: [1, 3, 2, 0, 4], bytes: caseBytes)]
    }

    /// Source bytes of ``fetchCases``: twice the default threshold of fetching ahead (the whole
    /// last-level cache, where the fetching is meant to pay), at most 512 MiB.
    var fetchCaseBytes: Int {
        Swift.min(512 << 20, Swift.max(caseBytes, 2 * CopyTuning.fetchAheadThresholdByDefault))
    }

    /// Streamed 4-byte transposes into rows that start inside lines, from source rows that start
    /// inside lines too: the skewed walk's source fetching ahead
    /// (``CopyTuning/fetchAheadThresholdBytes``). Odd sides, square and 3:2 (like 7263x7265 and
    /// 9001x6007), none within 256 bytes of a multiple of 4 KiB, whose rows would share L1 sets
    /// (docs/performance.md, twenty-seventh session); 8319x8321 and 10111x6741 here.
    var fetchCases: [TuningCase] {
        let elements = Double(fetchCaseBytes / 4)
        let square = Tuner.fetchCaseSide(elements.squareRoot())
        return [TuningCase(elementSize: 4, shape: [square, Tuner.fetchCaseSide(Double(square + 2))], permutation: [1, 0]),
                TuningCase(elementSize: 4, shape: [Tuner.fetchCaseSide((elements * 1.5).squareRoot()), Tuner.fetchCaseSide((elements / 1.5).squareRoot())],
                           permutation: [1, 0])]
    }

    /// An odd side of about `x` 4-byte elements whose rows do not lie within 256 bytes of a multiple
    /// of 4 KiB apart.
    static func fetchCaseSide(_ x: Double) -> Int {
        var side = Int(x) | 1
        while (side * 4 + 256) % 4096 < 512 { side += 64 }
        return side
    }

    /// Copies into fresh memory: a transpose whose chunks each need their own pages, and one whose
    /// tiles span nearly the whole destination (every chunk waits for every page).
    var freshCases: [TuningCase] {
        [tileCases(elementSize: 4)[0], TuningCase.scaled(elementSize: 4, shape: [1, 96, 75, 96], permutation: [3, 2, 1, 0], bytes: caseBytes)]
    }

    /// Sizes at which the two thresholds are decided.
    var streamingSizes: [Int] { (quick ? [1, 4, 16, 64] : [1, 2, 4, 8, 16, 32, 64, 128]).map { $0 << 20 } }
    /// (1024 KiB is a 512² f4 transpose, whose source and destination fill a 2 MiB L2 exactly and
    /// stay there across repetitions on one core; 1280 and 1536 KiB have sides of 572 and 627.)
    var inlineSizes: [Int] { (quick ? [16, 64, 256, 1024, 1280] : [8, 16, 32, 64, 128, 256, 512, 1024, 1280, 1536]).map { $0 << 10 } }

    /// TTC cases for the final check (all 57, or every seventh in quick mode), float32.
    public static func ttcCases(quick: Bool, specifications: [String]) -> [TuningCase] {
        let picked = quick ? specifications.enumerated().filter { $0.offset % 7 == 0 }.map(\.element) : specifications
        return picked.map { line in
            let n = line.split(separator: " ").compactMap { Int($0) }
            let dim = n[0]
            let perm = Array(n[1...dim]), size = Array(n[(dim + 1)...(2 * dim)])
            return TuningCase(elementSize: 4, shape: size.reversed(), permutation: (0..<dim).map { dim - 1 - perm[dim - 1 - $0] })
        }
    }

    /// The index to keep: the best score, unless it beats the incumbent by no more than `margin`.
    public static func choose(scores: [Double], incumbent: Int, margin: Double) -> Int {
        guard let best = scores.indices.max(by: { scores[$0] < scores[$1] }) else { return incumbent }
        return scores[best] > scores[incumbent] * (1 + margin) ? best : incumbent
    }

    /// The smallest size from which `wins` holds at every larger size, or nil if it holds at none.
    public static func threshold(sizes: [Int], wins: [Bool]) -> Int? {
        var result: Int? = nil
        for (size, win) in zip(sizes, wins).reversed() {
            if win { result = size } else { break }
        }
        return result
    }

    /// Runs the sweep. `ttc` are the validation cases (see ``ttcCases(quick:specifications:)``).
    public func run<M: TuningMeasurer>(measurer: inout M, ttc: [TuningCase], progress: (TuningProgress) -> Void) throws -> TuningProfile {
        var tuning = CopyTuning.defaults
        var measurements = [TuningMeasurement]()
        let sizes = Array(RawTensor.supportedElementSizes).sorted()
        let runCandidates = [16 << 10, 24 << 10, 40 << 10, 64 << 10, 128 << 10]
        let chunkCandidates = [64 << 10, 256 << 10, 1 << 20, 4 << 20]
        func tileSweep(_ size: Int) -> [CopyTuning.Tile] {
            let current = tuning.tile(elementSize: size)
            return [current] + tileCandidates(elementSize: size).filter { $0 != current }
        }
        let populatorCandidates = threads < 2 ? [] : Array(Set([1, 2, threads])).sorted()
        var total = sizes.reduce(0) { $0 + tileSweep($1).count * tileCases(elementSize: $1).count }
        total += runCandidates.count * runCases.count + chunkCandidates.count * chunkCases.count
        // The staged walk at every stride matters only where the AVX-512 walks do not run.
        let stagedMatters = rl_avx512_walks() == 0
        total += (stagedMatters ? 4 : 2) * wideCases.count + (stagedMatters ? 0 : 2) * (blockPairCases.count + fetchCases.count) + 2 * followCases.count
        total += populatorCandidates.count * freshCases.count
        total += 4 * streamingSizes.count + 2 * inlineSizes.count + 2 * ttc.count
        var done = 0
        func step(_ label: String) {
            done += 1
            progress(TuningProgress(done: done, total: total, label: label))
        }

        // memcpy of a case's bytes is measured next to every candidate; its median over all of them
        // is the denominator, which is far steadier than any single candidate's memcpy.
        func measureAll(_ candidates: [CopyTuning], _ names: [String], _ cases: [TuningCase], _ label: String,
                        fresh: Bool = false) throws -> [(gbps: Double, ratio: Double)] {
            var samples = [[TuningSample]](repeating: [], count: candidates.count)
            if fresh {
                for c in cases {
                    for (k, sample) in try measurer.measureFresh(c, tunings: candidates, threads: self.threads).enumerated() {
                        samples[k].append(sample)
                        step("\(label) \(names[k])")
                    }
                }
            } else {
                for (k, candidate) in candidates.enumerated() {
                    for c in cases {
                        samples[k].append(try measurer.measure(c, tuning: candidate, threads: self.threads))
                        step("\(label) \(names[k])")
                    }
                }
            }
            let memcpy = cases.indices.map { i in median(samples.map { $0[i].memcpySeconds }) }
            return samples.map { row in
                (geometricMean(row.map(\.gbps)), geometricMean(row.indices.map { memcpy[$0] / row[$0].copySeconds }))
            }
        }

        func sweep(knob: String, candidates: [CopyTuning], names: [String], incumbent: Int, cases: [TuningCase], fresh: Bool = false) throws -> CopyTuning {
            let results = try measureAll(candidates, names, cases, knob, fresh: fresh)
            let chosen = Tuner.choose(scores: results.map(\.ratio), incumbent: incumbent, margin: margin)
            for (k, r) in results.enumerated() {
                measurements.append(TuningMeasurement(knob: knob, candidate: names[k], gbps: r.gbps, ratio: r.ratio, chosen: k == chosen))
            }
            return candidates[chosen]
        }

        for size in sizes {
            let candidates = tileSweep(size)
            let tunings = candidates.map { tile -> CopyTuning in
                var t = tuning
                t.tiles[size] = tile
                return t
            }
            tuning = try sweep(knob: "tile.\(size)", candidates: tunings, names: candidates.map { "\($0.along)x\($0.across)" }, incumbent: 0, cases: tileCases(elementSize: size))
        }
        tuning = try sweep(knob: "runTileAreaBytes", candidates: runCandidates.map { var t = tuning; t.runTileAreaBytes = $0; return t },
                           names: runCandidates.map(String.init), incumbent: runCandidates.firstIndex(of: tuning.runTileAreaBytes) ?? 0, cases: runCases)
        tuning = try sweep(knob: "chunkBytes", candidates: chunkCandidates.map { var t = tuning; t.chunkBytes = $0; return t },
                           names: chunkCandidates.map(String.init), incumbent: chunkCandidates.firstIndex(of: tuning.chunkBytes) ?? 0, cases: chunkCases)

        // The wide transpose walk (AVX-512 machines; elsewhere both candidates run the same code).
        tuning = try sweep(knob: "wideTransposes", candidates: [true, false].map { var t = tuning; t.wideTransposes = $0; return t },
                           names: ["on", "off"], incumbent: tuning.wideTransposes ? 0 : 1, cases: wideCases)
        // Their 4-byte steps (where they run; the default follows the L1d's ways).
        if !stagedMatters && tuning.wideTransposes {
            tuning = try sweep(knob: "wideFourByteBlockPairs",
                               candidates: [true, false].map { var t = tuning; t.wideFourByteBlockPairs = $0; return t },
                               names: ["pairs", "single"], incumbent: tuning.wideFourByteBlockPairs ? 0 : 1, cases: blockPairCases)
        } else if !stagedMatters {
            total -= 2 * blockPairCases.count
        }
        // Their source fetched ahead past the last-level cache (only their skewed walk fetches):
        // on against off. Where the hardware prefetchers keep ahead on their own, off wins.
        if !stagedMatters && tuning.wideTransposes {
            var off = tuning
            off.fetchAheadThresholdBytes = Int.max
            var on = tuning
            if on.fetchAheadThresholdBytes == Int.max { on.fetchAheadThresholdBytes = CopyTuning.fetchAheadThresholdByDefault }
            tuning = try sweep(knob: "fetchAheadThresholdBytes", candidates: [on, off], names: ["on", "off"],
                               incumbent: tuning.fetchAheadThresholdBytes == Int.max ? 1 : 0, cases: fetchCases)
        } else if !stagedMatters {
            total -= 2 * fetchCases.count
        }
        // The staged walk at every stride (machines without the AVX-512 walks; on the others both
        // candidates would run the same code, and noise alone would pick).
        if stagedMatters {
            tuning = try sweep(knob: "stagedTransposesAtAnyStride",
                               candidates: [false, true].map { var t = tuning; t.stagedTransposesAtAnyStride = $0; return t },
                               names: ["off", "on"], incumbent: tuning.stagedTransposesAtAnyStride ? 1 : 0, cases: wideCases)
        }
        tuning = try sweep(knob: "followsSourceRows", candidates: [true, false].map { var t = tuning; t.followsSourceRows = $0; return t },
                           names: ["on", "off"], incumbent: tuning.followsSourceRows ? 0 : 1, cases: followCases)

        // Fresh destinations: how many slots fault pages in at once, timed with the allocation.
        if !populatorCandidates.isEmpty {
            tuning = try sweep(knob: "freshPopulators", candidates: populatorCandidates.map { var t = tuning; t.freshPopulators = $0; return t },
                               names: populatorCandidates.map(String.init), incumbent: populatorCandidates.firstIndex(of: tuning.freshPopulators) ?? 0,
                               cases: freshCases, fresh: true)
        }
        let freshPopulators = tuning.freshPopulators

        // Streaming stores: on against off at each size, on a transpose and a bulk copy.
        var streamingWins = [Bool]()
        for bytes in streamingSizes {
            let cases = [TuningCase(elementSize: 4, shape: [Int((Double(bytes / 4)).squareRoot()), Int((Double(bytes / 4)).squareRoot())], permutation: [1, 0]),
                         TuningCase(elementSize: 4, shape: [bytes / 4], permutation: [0])]
            var on = tuning, off = tuning
            on.streamingThresholdBytes = 0
            off.streamingThresholdBytes = Int.max
            let results = try measureAll([on, off], ["on", "off"], cases, "streaming at \(bytes >> 20) MiB")
            streamingWins.append(results[0].ratio > results[1].ratio * (1 + margin))
            measurements.append(TuningMeasurement(knob: "streamingThresholdBytes", candidate: "on@\(bytes)", gbps: results[0].gbps, ratio: results[0].ratio, chosen: false))
            measurements.append(TuningMeasurement(knob: "streamingThresholdBytes", candidate: "off@\(bytes)", gbps: results[1].gbps, ratio: results[1].ratio, chosen: false))
        }
        tuning.streamingThresholdBytes = Tuner.threshold(sizes: streamingSizes, wins: streamingWins) ?? Int.max

        // Inline threshold: all workers against the caller alone, on a transpose of each size. Both
        // are planned for all threads, and memcpy between their runs uses all threads alike: timed
        // against a one-thread memcpy, the caller alone kept the case in its own L2 from run to run
        // and won up to 1.25 MiB, where alternating with the bench's memcpy it lost by 1.2-1.5x.
        var parallelWins = [Bool]()
        var parallelTuning = tuning
        parallelTuning.inlineThresholdBytes = 0
        parallelTuning.directCopyBytes = 0
        var callerTuning = parallelTuning
        callerTuning.inlineThresholdBytes = Int.max
        for bytes in inlineSizes {
            let side = Int((Double(bytes / 4)).squareRoot())
            let cases = [TuningCase(elementSize: 4, shape: [side, side], permutation: [1, 0])]
            let results = try measureAll([parallelTuning, callerTuning], ["\(threads) threads", "1 thread"], cases, "at \(bytes >> 10) KiB")
            let (parallel, single) = (results[0], results[1])
            parallelWins.append(parallel.gbps > single.gbps * 1.10)
            measurements.append(TuningMeasurement(knob: "inlineThresholdBytes", candidate: "parallel@\(bytes)", gbps: parallel.gbps, ratio: parallel.ratio, chosen: false))
            measurements.append(TuningMeasurement(knob: "inlineThresholdBytes", candidate: "single@\(bytes)", gbps: single.gbps, ratio: single.ratio, chosen: false))
        }
        // Where the workers win at none of the sizes, 2 MiB (they won there by 1.2x on the Xeons).
        tuning.inlineThresholdBytes = threads <= 1 ? Int.max : (Tuner.threshold(sizes: inlineSizes, wins: parallelWins) ?? 2 << 20)

        // The tuned values must not lose to the defaults on the TTC cases.
        var defaultsRatio: Double? = nil, tunedRatio: Double? = nil
        if !ttc.isEmpty {
            var tuned = [TuningSample](), builtIn = [TuningSample]()
            for c in ttc {
                tuned.append(try measurer.measure(c, tuning: tuning, threads: threads))
                step("check tuned on \(c.name)")
                builtIn.append(try measurer.measure(c, tuning: .defaults, threads: threads))
                step("check defaults on \(c.name)")
            }
            let memcpy = ttc.indices.map { median([tuned[$0].memcpySeconds, builtIn[$0].memcpySeconds]) }
            defaultsRatio = geometricMean(ttc.indices.map { memcpy[$0] / builtIn[$0].copySeconds })
            tunedRatio = geometricMean(ttc.indices.map { memcpy[$0] / tuned[$0].copySeconds })
            // The check copies into touched memory, so it says nothing about fresh destinations.
            if tunedRatio! < defaultsRatio! { tuning = .defaults; tuning.freshPopulators = freshPopulators }
        }
        return TuningProfile(fingerprint: fingerprint, createdAt: ISO8601Lite.now(), quick: quick, tuning: tuning,
                             measurements: measurements, defaultsRatio: defaultsRatio, tunedRatio: tunedRatio)
    }
}

/// A UTC timestamp without Foundation's date formatters.
enum ISO8601Lite {
    static func now() -> String {
        var t = time(nil)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}
