import ArgumentParser
import CRelayoutKernels
import Foundation
import Relayout

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measures copies against memcpy of the same bytes on the same threads in the same run.",
        discussion: """
            A case DTYPE:SHAPE:PERM (e.g. f4:64x224x224x3:0,3,1,2) is a row-major source made contiguous \
            after NumPy's transpose(PERM). Each case reports copy(from:) into a preallocated destination \
            and contiguous() including its allocation (which reuses the pages of the previous sample's \
            freed result, see Storage.retainedBytesLimit); GB/s counts bytes read plus bytes written; \
            figures are medians of --repeats runs.
            """
    )

    @Option(help: "Suite: ttc (default), small, deepcopy, loader or all.") var suite: String?
    @Option(name: .customLong("case"), help: "A case DTYPE:SHAPE:PERM, or DTYPE:SHAPE:PERM[INDEX] with a NumPy basic index after the permutation (u1:1080x1920x3:0,1,2[:,::-1]); repeatable; replaces the suite.") var cases: [String] = []
    @Option(help: "Worker threads (default: all cores).") var threads: Int?
    @Option(help: "A tuning profile to use instead of the lookup ($RELAYOUT_PROFILE, then the cache).") var profile: String?
    @Option(help: "Timed runs per case; the median is reported.") var repeats: Int = 5
    @Flag(help: "Print a JSON array of results and nothing else on stdout.") var json = false
    @Flag(help: "Also time contiguous() into fresh pages (nothing reused), with them faulted in serially first and without huge pages, and memcpy into fresh pages (the ceiling).") var allocation = false
    @Option(help: ArgumentHelp("Override the transpose tile for every element size, ALONGxACROSS.", visibility: .hidden)) var tile: String?
    @Option(help: ArgumentHelp("Override chunk bytes.", visibility: .hidden)) var chunkBytes: Int?
    @Option(help: ArgumentHelp("Override the area, in bytes, of a tile of short runs.", visibility: .hidden)) var runTileAreaBytes: Int?
    @Option(help: ArgumentHelp("Override chunk bytes for fresh destinations.", visibility: .hidden)) var freshChunkBytes: Int?
    @Option(help: ArgumentHelp("Override the streaming-store threshold in bytes.", visibility: .hidden)) var streamingThreshold: Int?
    @Option(help: ArgumentHelp("Override the destination size in bytes from which walks that need it fetch their source ahead.", visibility: .hidden)) var fetchAheadThreshold: Int?
    @Option(help: ArgumentHelp("Override the inline threshold in bytes (copies below it run on the caller's thread).", visibility: .hidden)) var inlineThreshold: Int?
    @Option(help: ArgumentHelp("Override the wide transpose walk: true or false.", visibility: .hidden)) var wideTransposes: Bool?
    @Option(help: ArgumentHelp("Override whether the AVX-512 walks take 4-byte tiles two 16 x 16 blocks per step: true or false.", visibility: .hidden)) var wideBlockPairs: Bool?
    @Option(help: ArgumentHelp("Override whether, without the AVX-512 walks, streamed transposes take the staged walk at every row stride: true or false.", visibility: .hidden)) var stagedAtAnyStride: Bool?
    @Option(help: ArgumentHelp("Override whether transposes and tiles of short runs take work items along the source's rows: true or false.", visibility: .hidden)) var followsSourceRows: Bool?
    @Flag(help: ArgumentHelp("Run the kernels of a CPU with AVX-512BW but no VBMI (Skylake-X, Cascade Lake).", visibility: .hidden)) var withoutVbmi = false
    @Flag(help: ArgumentHelp("Run the kernels of a CPU without AVX-512 (AMD Zen 3 and earlier, most desktop CPUs): the staged walk and the 16-byte block kernels.", visibility: .hidden)) var withoutAvx512 = false
    @Flag(help: ArgumentHelp("Print each case's copy plan (to standard error).", visibility: .hidden)) var plans = false

    func run() throws {
        try reportingErrors {
            if let threads, threads < 1 { throw RelayoutError.invalidArgument("--threads must be at least 1, got \(threads)") }
            try ActiveProfile.load(flag: profile)
            guard repeats >= 1 else { throw RelayoutError.invalidArgument("--repeats must be at least 1, got \(repeats)") }
            // The hidden overrides hold for this run only, so that a bench run in-process (the
            // tests) leaves later copies the tuning and kernels they had.
            let tuningWithoutOverrides = CopyTuning.active
            defer {
                CopyTuning.active = tuningWithoutOverrides
                if withoutVbmi { rl_set_avx512_vbmi_allowed(1) }
                if withoutAvx512 { rl_set_avx512_allowed(1) }
            }
            if let tile {
                let sides = tile.split(separator: "x").compactMap { Int($0) }
                guard sides.count == 2, sides.allSatisfy({ $0 > 0 }) else { throw RelayoutError.invalidArgument("--tile must be like 32x64") }
                var tuning = CopyTuning.active
                for size in RawTensor.supportedElementSizes { tuning.tiles[size] = .init(along: sides[0], across: sides[1]) }
                CopyTuning.active = tuning
            }
            if let chunkBytes { CopyTuning.active.chunkBytes = chunkBytes }
            if let runTileAreaBytes { CopyTuning.active.runTileAreaBytes = runTileAreaBytes }
            if let freshChunkBytes { CopyTuning.active.freshChunkBytes = freshChunkBytes }
            if let streamingThreshold { CopyTuning.active.streamingThresholdBytes = streamingThreshold }
            if let fetchAheadThreshold { CopyTuning.active.fetchAheadThresholdBytes = fetchAheadThreshold }
            if let inlineThreshold { CopyTuning.active.inlineThresholdBytes = inlineThreshold }
            if let wideTransposes { CopyTuning.active.wideTransposes = wideTransposes }
            if let wideBlockPairs { CopyTuning.active.wideFourByteBlockPairs = wideBlockPairs }
            if let stagedAtAnyStride { CopyTuning.active.stagedTransposesAtAnyStride = stagedAtAnyStride }
            if let followsSourceRows { CopyTuning.active.followsSourceRows = followsSourceRows }
            if withoutVbmi { rl_set_avx512_vbmi_allowed(0) }
            if withoutAvx512 { rl_set_avx512_allowed(0) }
            var selected = try cases.map { try BenchCase(parsing: $0) }
            var suiteName = "custom"
            var workloads = [String]()
            if selected.isEmpty || suite != nil {
                guard let chosen = BenchSuite(rawValue: suite ?? "ttc") else {
                    throw RelayoutError.invalidArgument("--suite must be one of \(BenchSuite.allCases.map(\.rawValue).joined(separator: ", ")), got '\(suite!)'")
                }
                suiteName = chosen.rawValue
                selected = chosen.cases + selected
                workloads = chosen.workloads
            }
            var runner = BenchRunner(threads: threads ?? Parallelism.defaultThreadCount, repeats: repeats, withLoop: suiteName == "small")
            runner.allocationModes = allocation
            if !json && !selected.isEmpty {
                print("relayout bench: suite \(suiteName), \(selected.count) cases, \(runner.threads) threads, median of \(repeats); GB/s = (read + written) / s")
                print(BenchTable.header(withLoop: runner.withLoop))
            }
            var results = [BenchResult]()
            for benchCase in selected {
                let result = try runner.run(benchCase)
                results.append(result)
                if !json { print(BenchTable.row(result)) }
                if plans { FileHandle.standardError.write(Data("\(result.case): \(result.plan)\n".utf8)) }
            }
            if !json && !results.isEmpty { print(BenchTable.summary(results)) }
            var workloadResults = [WorkloadResult]()
            for name in workloads {
                let result = name == "deepcopy" ? try Workloads.deepCopy(threads: runner.threads, repeats: repeats)
                    : try Workloads.loader(threads: runner.threads, repeats: repeats)
                workloadResults.append(result)
                if !json {
                    print(String(format: "%@: %.1f MB read+written, %.5f s, %.2f GB/s, memcpy %.2f GB/s, ratio %.2f",
                                 result.case, Double(result.bytes) / 1e6, result.seconds, result.gbps, result.memcpyGbps, result.ratio))
                }
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                let records = results.map(BenchRecord.copy) + workloadResults.map(BenchRecord.workload)
                print(String(decoding: try encoder.encode(records), as: UTF8.self))
            }
        }
    }
}

/// One entry of `--json`: a copy case or a workload; both carry {case, bytes, seconds, gbps, memcpyGbps, ratio}.
enum BenchRecord: Encodable {
    case copy(BenchResult)
    case workload(WorkloadResult)

    func encode(to encoder: Encoder) throws {
        switch self {
        case let .copy(r): try r.encode(to: encoder)
        case let .workload(r): try r.encode(to: encoder)
        }
    }
}

enum BenchTable {
    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }

    static func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

    static func header(withLoop: Bool) -> String {
        let columns = ["case".padding(toLength: 34, withPad: " ", startingAt: 0), pad("bytes", 11), pad("copy s", 9), pad("GB/s", 7),
                       pad("memcpy", 7), pad("ratio", 6), pad("contig s", 9), pad("GB/s", 7), pad("ratio", 6), pad("kernel", 10)]
        return columns.joined(separator: " ") + (withLoop ? " " + pad("loop GB/s", 9) : "")
    }

    static func row(_ r: BenchResult) -> String {
        let columns = [r.case.padding(toLength: 34, withPad: " ", startingAt: 0), pad(String(r.bytes), 11), pad(fixed(r.seconds, 5), 9),
                       pad(fixed(r.gbps, 2), 7), pad(fixed(r.memcpyGbps, 2), 7), pad(fixed(r.ratio, 2), 6),
                       pad(fixed(r.contiguousSeconds, 5), 9), pad(fixed(r.contiguousGbps, 2), 7), pad(fixed(r.contiguousRatio, 2), 6),
                       pad(r.kernel, 10)]
        return columns.joined(separator: " ") + (r.loopGbps.map { " " + pad(fixed($0, 2), 9) } ?? "")
    }

    static func allocationSummary(_ results: [BenchResult]) -> String {
        let serial = results.compactMap(\.contiguousSerialTouchGbps), noHuge = results.compactMap(\.contiguousNoHugePagesGbps)
        let fresh = results.compactMap(\.freshMemcpyGbps), freshPages = results.compactMap(\.contiguousFreshPagesGbps)
        guard !serial.isEmpty, !noHuge.isEmpty, !fresh.isEmpty, !freshPages.isEmpty else { return "" }
        return "\ncontiguous() with allocation: pages of the previous result reused \(fixed(geometricMean(results.map(\.contiguousGbps)), 2)) GB/s; "
            + "fresh pages (nothing reused): parallel first touch + huge pages \(fixed(geometricMean(freshPages), 2)) GB/s, serial first touch \(fixed(geometricMean(serial), 2)) GB/s, parallel first touch without huge pages \(fixed(geometricMean(noHuge), 2)) GB/s; "
            + "ceiling (memcpy into fresh huge pages, same threads) \(fixed(geometricMean(fresh), 2)) GB/s"
    }

    static func summary(_ results: [BenchResult]) -> String {
        guard !results.isEmpty else { return "no cases" }
        let ratios = results.map(\.ratio)
        return """
            geometric mean: copy \(fixed(geometricMean(results.map(\.gbps)), 2)) GB/s, ratio to memcpy \(fixed(geometricMean(ratios), 3)) \
            (worst \(fixed(ratios.min()!, 3))); contiguous() \(fixed(geometricMean(results.map(\.contiguousGbps)), 2)) GB/s, \
            ratio \(fixed(geometricMean(results.map(\.contiguousRatio)), 3)); memcpy \(fixed(geometricMean(results.map(\.memcpyGbps)), 2)) GB/s
            """ + allocationSummary(results)
    }
}
