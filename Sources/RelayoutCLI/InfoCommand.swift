import ArgumentParser
import Foundation
import Relayout

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Shows the topology, caches, NUMA nodes and the tuning profile in force."
    )

    @Flag(help: "Print one JSON object.") var json = false
    @Option(help: "A tuning profile to use instead of the lookup.") var profile: String?

    struct Report: Encodable {
        struct NUMA: Encodable {
            var available: Bool
            var libnumaAPIVersion: Int
            var nodes: [Topology.Node]
            var distances: [[Int]]
        }
        struct Profile: Encodable {
            var source: String
            var path: String?
            var warning: String?
        }
        var cpuModel: String
        var coreCount: Int
        var numa: NUMA
        var caches: Topology.Caches
        var profile: Profile
        var tuning: CopyTuning
    }

    func run() throws {
        try reportingErrors {
            let resolution = try ActiveProfile.load(flag: profile)
            let topology = Topology.machine
            let report = Report(
                cpuModel: topology.cpuModel, coreCount: topology.coreCount,
                numa: .init(available: Relayout.NUMA.isAvailable, libnumaAPIVersion: Relayout.NUMA.apiVersion, nodes: topology.nodes, distances: topology.distances),
                caches: topology.caches,
                profile: .init(source: resolution.source.rawValue, path: resolution.path, warning: resolution.warning),
                tuning: resolution.tuning)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
                return
            }
            print("CPU: \(report.cpuModel), \(report.coreCount) cores")
            print("caches: L1d \(report.caches.l1d >> 10) KiB, L2 \(report.caches.l2 >> 10) KiB, L3 \(report.caches.l3 >> 20) MiB")
            print("NUMA: \(report.numa.available ? "available" : "not available (placements fall back to plain allocation)") (libnuma API \(report.numa.libnumaAPIVersion)), \(report.numa.nodes.count) node(s)")
            for node in report.numa.nodes {
                print("  node \(node.id): cpus \(node.cpus.map(String.init).joined(separator: ",")), \(node.memoryBytes >> 20) MiB")
            }
            print("  distances: \(report.numa.distances)")
            print("profile: \(report.profile.source)\(report.profile.path.map { " (\($0))" } ?? "")")
            let t = report.tuning
            print("tuning: tiles " + t.tiles.keys.sorted().map { "\($0)B \(t.tiles[$0]!.along)x\(t.tiles[$0]!.across)" }.joined(separator: ", ")
                  + "; runTileAreaBytes \(t.runTileAreaBytes); chunkBytes \(t.chunkBytes); freshChunkBytes \(t.freshChunkBytes); freshPopulators \(t.freshPopulators); wideTransposes \(t.wideTransposes); wideFourByteBlockPairs \(t.wideFourByteBlockPairs); stagedTransposesAtAnyStride \(t.stagedTransposesAtAnyStride); followsSourceRows \(t.followsSourceRows); directCopyBytes \(t.directCopyBytes)"
                  + "; inline below \(t.inlineThresholdBytes) B; streaming from \(t.streamingThresholdBytes == Int.max ? "never" : "\(t.streamingThresholdBytes) B"); fetching ahead from \(t.fetchAheadThresholdBytes == Int.max ? "never" : "\(t.fetchAheadThresholdBytes) B")")
        }
    }
}
