#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The machine's NUMA nodes, their CPUs and memory, the distance matrix and the cache sizes, read from
/// sysfs (`/sys/devices/system`). Tests describe other machines by building one directly.
public struct Topology: Codable, Equatable, Sendable {
    /// One NUMA node.
    public struct Node: Codable, Equatable, Sendable {
        public var id: Int
        public var cpus: [Int]
        public var memoryBytes: Int
        public init(id: Int, cpus: [Int], memoryBytes: Int) {
            self.id = id
            self.cpus = cpus
            self.memoryBytes = memoryBytes
        }
    }

    /// Per-core data cache sizes in bytes (L3 is shared); 0 where unknown.
    public struct Caches: Codable, Equatable, Sendable {
        public var l1d: Int
        public var l2: Int
        public var l3: Int
        public init(l1d: Int, l2: Int, l3: Int) {
            self.l1d = l1d
            self.l2 = l2
            self.l3 = l3
        }
    }

    public var cpuModel: String
    public var coreCount: Int
    public var nodes: [Node]
    /// `distances[i][j]`: relative cost of node i reaching node j's memory (10 = local).
    public var distances: [[Int]]
    public var caches: Caches

    public init(cpuModel: String, coreCount: Int, nodes: [Node], distances: [[Int]], caches: Caches) {
        self.cpuModel = cpuModel
        self.coreCount = coreCount
        self.nodes = nodes
        self.distances = distances
        self.caches = caches
    }

    /// This machine, read once per process.
    public static let machine = Topology.current()

    /// The node that owns `cpu`, or nil.
    public func node(ofCPU cpu: Int) -> Int? { nodes.first { $0.cpus.contains(cpu) }?.id }

    /// This machine, as sysfs and /proc describe it; a single node holding every core where sysfs
    /// has no NUMA information (containers, kernels without NUMA).
    public static func current(root: String = "") -> Topology {
        let coreCount = ProcessInfoLite.activeProcessorCount
        let model = cpuModel(root: root)
        var nodes = [Node]()
        var distances = [[Int]]()
        let nodeRoot = root + "/sys/devices/system/node"
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: nodeRoot))?
            .compactMap { $0.hasPrefix("node") ? Int($0.dropFirst(4)) : nil }.sorted() ?? []
        for id in ids {
            let folder = "\(nodeRoot)/node\(id)"
            let cpus = parseCPUList(readText(folder + "/cpulist") ?? "")
            // "Node 0 MemTotal:  7039180 kB"
            let memoryKB = readText(folder + "/meminfo")?.split(separator: "\n")
                .first { $0.contains("MemTotal:") }
                .flatMap { line in line.split(separator: " ").compactMap { Int($0) }.last } ?? 0
            nodes.append(Node(id: id, cpus: cpus, memoryBytes: memoryKB * 1024))
            distances.append((readText(folder + "/distance") ?? "").split(separator: " ").compactMap { Int(String($0).trimmingWhitespace()) })
        }
        if nodes.isEmpty {
            nodes = [Node(id: 0, cpus: Array(0..<coreCount), memoryBytes: 0)]
            distances = [[10]]
        }
        return Topology(cpuModel: model, coreCount: coreCount, nodes: nodes, distances: distances, caches: readCaches(root: root))
    }

    /// The first "model name" in /proc/cpuinfo ("unknown" where there is none).
    static func cpuModel(root: String = "") -> String {
        readText(root + "/proc/cpuinfo")?
            .split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingWhitespace() } ?? "unknown"
    }

    static func readCaches(root: String) -> Caches {
        var caches = Caches(l1d: 0, l2: 0, l3: 0)
        let folder = root + "/sys/devices/system/cpu/cpu0/cache"
        for index in 0..<8 {
            let base = "\(folder)/index\(index)"
            guard let level = readText(base + "/level").flatMap({ Int($0.trimmingWhitespace()) }),
                  let type = readText(base + "/type")?.trimmingWhitespace(),
                  let size = readText(base + "/size").map({ parseSize($0.trimmingWhitespace()) })
            else { continue }
            switch (level, type) {
            case (1, "Data"), (1, "Unified"): caches.l1d = size
            case (2, _) where type != "Instruction": caches.l2 = size
            case (3, _) where type != "Instruction": caches.l3 = size
            default: break
            }
        }
        return caches
    }

    /// "32K", "1024K", "32M" → bytes.
    static func parseSize(_ text: String) -> Int {
        guard let unit = text.last else { return 0 }
        let scale: Int
        switch unit {
        case "K": scale = 1 << 10
        case "M": scale = 1 << 20
        case "G": scale = 1 << 30
        default: return Int(text) ?? 0
        }
        return (Int(text.dropLast()) ?? 0) * scale
    }

    /// "0-3,8,10-11" → [0, 1, 2, 3, 8, 10, 11].
    static func parseCPUList(_ text: String) -> [Int] {
        text.trimmingWhitespace().split(separator: ",").flatMap { part -> [Int] in
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            switch bounds.count {
            case 1: return bounds
            case 2 where bounds[0] <= bounds[1]: return Array(bounds[0]...bounds[1])
            default: return []
            }
        }
    }

    static func readText(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
