import ArgumentParser
import Foundation
import Relayout

struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Measures tile sizes, chunk size and thresholds on this machine and writes a profile.",
        discussion: """
            The profile is written to --output, else where the lookup finds it: $RELAYOUT_PROFILE, \
            else $XDG_CACHE_HOME/relayout/profile.json (default ~/.cache/relayout/profile.json). \
            --quick takes under a minute; a full run a few minutes.
            """
    )

    @Flag(help: "Fewer candidates and smaller cases.") var quick = false
    @Option(help: "Where to write the profile.") var output: String?
    @Flag(help: "Print the profile as JSON on stdout (progress stays on stderr).") var json = false
    @Option(help: "Worker threads to tune for (default: all cores).") var threads: Int?
    @Option(help: "Timed runs per measurement; the median counts.") var repeats: Int?

    func run() throws {
        try reportingErrors {
            if let threads, threads < 1 { throw RelayoutError.invalidArgument("--threads must be at least 1, got \(threads)") }
            if let repeats, repeats < 1 { throw RelayoutError.invalidArgument("--repeats must be at least 1, got \(repeats)") }
            let environment = ProcessInfo.processInfo.environment
            let path = output ?? environment["RELAYOUT_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? TuningProfile.cachePath(environment: environment)
            let tuner = Tuner(quick: quick, threads: threads ?? Parallelism.defaultThreadCount)
            var measurer = MemoryTuningMeasurer(repeats: repeats ?? 5)
            let bar = ProgressBar()
            let profile = try tuner.run(measurer: &measurer, ttc: Tuner.ttcCases(quick: quick, specifications: ttcSpecifications)) { bar.show($0) }
            bar.finish()
            try profile.write(to: path)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(profile), as: UTF8.self))
            } else {
                print(TuneReport.render(profile))
            }
            printError("relayout: profile written to \(path)")
        }
    }
}

/// A progress bar on a terminal, plain lines (every 10 %) otherwise; always on stderr.
final class ProgressBar {
    let isTerminal = isatty(2) != 0
    var lastDecile = -1

    func show(_ p: TuningProgress) {
        let fraction = Double(p.done) / Double(max(p.total, 1))
        if isTerminal {
            let width = 30
            let filled = Int(fraction * Double(width))
            let line = "\r[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
                + String(format: "%3.0f%%", fraction * 100) + " " + p.label.prefix(40).padding(toLength: 40, withPad: " ", startingAt: 0)
            _ = line.withCString { write(2, $0, strlen($0)) }
        } else {
            let decile = Int(fraction * 10)
            if decile != lastDecile {
                lastDecile = decile
                printError("tune: \(decile * 10)% (\(p.done)/\(p.total)) \(p.label)")
            }
        }
    }

    func finish() {
        if isTerminal { printError("") }
    }
}

enum TuneReport {
    static func render(_ profile: TuningProfile) -> String {
        var lines = ["relayout tune\(profile.quick ? " --quick" : ""): \(profile.fingerprint.cpuModel), \(profile.fingerprint.coreCount) cores"]
        var knobs = [String]()
        for m in profile.measurements where !knobs.contains(m.knob) { knobs.append(m.knob) }
        for knob in knobs {
            let rows = profile.measurements.filter { $0.knob == knob }
            lines.append("")
            lines.append("\(knob)")
            lines.append("  rank  candidate            GB/s   ratio")
            let ranked = knob.hasSuffix("ThresholdBytes") ? rows : rows.sorted { $0.ratio > $1.ratio }
            for (k, m) in ranked.enumerated() {
                lines.append("  " + String(k + 1).leftPadded(4) + "  " + m.candidate.padding(toLength: 16, withPad: " ", startingAt: 0)
                             + String(format: "%9.2f %7.3f", m.gbps, m.ratio) + (m.chosen ? "  <- chosen" : ""))
            }
            if let best = rows.map(\.ratio).max(), let worst = rows.map(\.ratio).min(), !knob.hasSuffix("ThresholdBytes") {
                lines.append(String(format: "  spread best/worst: %.2fx", best / worst))
            }
        }
        let t = profile.tuning
        lines.append("")
        lines.append("chosen: tiles " + t.tiles.keys.sorted().map { "\($0)B \(t.tiles[$0]!.along)x\(t.tiles[$0]!.across)" }.joined(separator: ", ")
                     + "; runTileAreaBytes \(t.runTileAreaBytes); chunkBytes \(t.chunkBytes); freshPopulators \(t.freshPopulators); wideTransposes \(t.wideTransposes); wideFourByteBlockPairs \(t.wideFourByteBlockPairs); stagedTransposesAtAnyStride \(t.stagedTransposesAtAnyStride); followsSourceRows \(t.followsSourceRows); streaming from \(t.streamingThresholdBytes == Int.max ? "never" : "\(t.streamingThresholdBytes) B"); fetching ahead from \(t.fetchAheadThresholdBytes == Int.max ? "never" : "\(t.fetchAheadThresholdBytes) B")"
                     + "; inline below \(t.inlineThresholdBytes) B")
        if let d = profile.defaultsRatio, let r = profile.tunedRatio {
            lines.append(String(format: "TTC check: defaults %.3f, tuned %.3f of memcpy (geometric mean)%@", d, r, r < d ? " — tuned lost, defaults kept (freshPopulators as measured)" : ""))
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
