import XCTest
@testable import Relayout

/// Claims recorded from several workers at once (behind the library's `Locked`, which
/// ThreadSanitizer follows).
final class ClaimLog: Sendable {
    private let log = Locked<[(worker: Int, chunk: Int)]>([])
    func record(worker: Int, chunk: Int) { log.withLock { $0.append((worker, chunk)) } }
    var entries: [(worker: Int, chunk: Int)] { log.withLock { $0 } }
}

final class NUMATests: XCTestCase {
    func requireNUMA() throws {
        guard NUMA.isAvailable else { throw XCTSkip("NUMA is not available on this machine") }
        guard NUMA.pageNodes(address: UnsafeRawPointer(bitPattern: 4096)!, byteCount: 1) != nil else {
            throw XCTSkip("move_pages is not permitted here")
        }
    }

    func touch(_ storage: Storage) {
        var offset = 0
        while offset < storage.byteCount {
            storage.baseAddress.storeBytes(of: 1, toByteOffset: offset, as: UInt8.self)
            offset += NUMA.pageSize
        }
    }

    func testRequestedPlacementsLandOnNodeZero() throws {
        try requireNUMA()
        for placement in [Placement.standard, .local, .node(0), .interleaved([]), .interleaved([0])] {
            let storage = try Storage(byteCount: 6 << 20, placement: placement)
            XCTAssertEqual(storage.placement, placement)
            touch(storage)
            let nodes = try XCTUnwrap(NUMA.pageNodes(address: storage.baseAddress, byteCount: storage.byteCount))
            XCTAssertEqual(nodes.count, (6 << 20) / NUMA.pageSize)
            XCTAssertEqual(Set(nodes), [0], "\(placement)")
        }
    }

    func testFirstTouchLeavesPagesForTheCopyWorkers() throws {
        try requireNUMA()
        let storage = try Storage(byteCount: 8 << 20, placement: .firstTouch, zeroed: true)
        let before = try XCTUnwrap(NUMA.pageNodes(address: storage.baseAddress, byteCount: storage.byteCount))
        XCTAssertTrue(before.allSatisfy { $0 < 0 }, "no page is faulted in before the copy")
        XCTAssertEqual(storage.baseAddress.load(fromByteOffset: 12345, as: UInt8.self), 0, "first-touch memory reads as zero")
        let destination = try RawTensor(storage: storage, layout: Layout.rowMajor([1024, 2048]), elementSize: 4)
        let source = try RawTensor(shape: [2048, 1024], elementSize: 4, zeroed: true)
        try destination.copy(from: source.transposed(0, 1), threads: 2)
        let after = try XCTUnwrap(NUMA.pageNodes(address: storage.baseAddress, byteCount: storage.byteCount))
        XCTAssertEqual(Set(after), [0])
        let sampled = try XCTUnwrap(NUMA.nodes(ofAddresses: [storage.baseAddress, storage.baseAddress + 5 << 20, source.storage.baseAddress]))
        XCTAssertEqual(sampled, [0, 0, 0])
    }

    func testPopulatingFaultsPagesInWithoutChangingThem() throws {
        try requireNUMA()
        let storage = try Storage(byteCount: 12 << 20, placement: .firstTouch)
        // Some bytes written already (as by a chunk that ran first), the rest never touched.
        memset(storage.baseAddress + (3 << 20), 0xA5, 4096)
        Pages.populateForWriting(storage.baseAddress + 100, byteCount: storage.byteCount - 200, workers: 3)
        let nodes = try XCTUnwrap(NUMA.pageNodes(address: storage.baseAddress, byteCount: storage.byteCount))
        XCTAssertEqual(Set(nodes), [0], "every page is faulted in")
        let bytes = UnsafeRawBufferPointer(start: storage.baseAddress, count: storage.byteCount)
        XCTAssertTrue(bytes[(3 << 20)..<((3 << 20) + 4096)].allSatisfy { $0 == 0xA5 })
        XCTAssertEqual(bytes.reduce(0) { $0 + Int($1 == 0xA5 ? 0 : $1) }, 0, "everything else still reads as zero")
    }

    func testFreshResultsMatchTheReference() throws {
        // contiguous() of large views: fresh destinations, populated by the workers first.
        for (shape, perm) in [([1100, 1300], [1, 0]), ([40, 300, 170], [2, 0, 1])] {
            let source = try RawTensor(shape: shape, elementSize: 4)
            var rng = SeededGenerator(seed: 3)
            EngineTests.fillRandom(source.storage, using: &rng)
            let view = try source.permuted(perm)
            let result = try view.contiguous(threads: 2)
            XCTAssertEqual(result.storage.placement, .firstTouch)
            let expected = try RawTensor(shape: view.shape, elementSize: 4)
            ReferenceCopy.copy(from: view.storage.baseAddress, layout: view.layout, to: expected.storage.baseAddress, layout: expected.layout, elementSize: 4)
            XCTAssertEqual(EngineTests.bytes(result), EngineTests.bytes(expected))
        }
    }

    func testUnknownNodesAreErrors() throws {
        try requireNUMA()
        XCTAssertThrowsError(try Storage(byteCount: 1 << 20, placement: .node(NUMA.highestNode + 1))) { error in
            guard case RelayoutError.invalidArgument = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try Storage(byteCount: 1 << 20, placement: .interleaved([0, 99])))
        XCTAssertThrowsError(try Storage(byteCount: 1 << 20, placement: .node(-1)))
    }

    func testUnavailableNUMAFallsBackToPlainAllocation() throws {
        NUMA.overrideAvailability(false)
        defer { NUMA.overrideAvailability(nil) }
        let storage = try Storage(byteCount: 1 << 20, placement: .node(7))
        XCTAssertEqual(storage.placement, .standard)
        touch(storage)
        XCTAssertNil(NUMA.pageNodes(address: storage.baseAddress, byteCount: storage.byteCount))
        let tensor = try RawTensor(shape: [64, 64], elementSize: 4, placement: .interleaved([1, 2]))
        XCTAssertEqual(try tensor.transposed(0, 1).contiguous().shape, [64, 64])
    }

    /// A machine with `nodes` nodes: distances grow with the gap between node numbers.
    func affinity(nodes: Int, chunks: Int) -> NodeAffinity {
        let distances = (0..<nodes).map { i in (0..<nodes).map { j in i == j ? 10 : 20 + abs(i - j) } }
        return NodeAffinity(nodeCount: nodes, chunkNodes: (0..<chunks).map { ($0 * 7919) % nodes }, distances: distances) { $0 % nodes }
    }

    func testNodeGroupedClaimingRunsEveryChunkOnceLocalFirst() throws {
        for nodes in [2, 4, 8] {
            let chunks = 300
            let affinity = affinity(nodes: nodes, chunks: chunks)
            let claims = ClaimLog()
            Executor.run(chunks: chunks, workers: 2 * nodes, affinity: affinity) { chunk, worker in
                claims.record(worker: worker, chunk: chunk)
            }
            let all = claims.entries
            XCTAssertEqual(all.map(\.chunk).sorted(), Array(0..<chunks), "\(nodes) nodes: every chunk exactly once")
            for worker in Set(all.map(\.worker)) {
                let home = worker % nodes
                let distances = all.filter { $0.worker == worker }.map { affinity.distances[home][affinity.chunkNodes[$0.chunk]] }
                XCTAssertEqual(distances, distances.sorted(), "\(nodes) nodes: worker \(worker) takes local chunks first, then the nearest")
            }
        }
    }

    func testCopiesWithInjectedTopologiesMatchTheReference() throws {
        var rng = SeededGenerator(seed: 11)
        for nodes in [2, 4, 8] {
            for trial in 0..<20 {
                let source = try EngineTests.randomSource(rank: 2 + trial % 4, elementSize: [1, 2, 4, 8, 16][trial % 5], using: &rng)
                let destination = try EngineTests.randomDestination(shape: source.shape, elementSize: source.elementSize, using: &rng)
                let expected = try EngineTests.referenceResult(source, destination)
                let plan = try CopyPlan(source: source.layout, destination: destination.layout, elementSize: source.elementSize,
                                        tuning: EngineTests.smallTuning, threads: 2 * nodes)
                plan.execute(source: source.storage.baseAddress, destination: destination.storage.baseAddress,
                             affinity: affinity(nodes: nodes, chunks: plan.chunkCount))
                XCTAssertEqual(EngineTests.bytes(destination), expected, "\(nodes) nodes, trial \(trial)")
            }
        }
    }

    func testTopologyFromAFakeSysfs() throws {
        let root = NSTemporaryDirectory() + "relayout-sysfs-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        func put(_ path: String, _ text: String) throws {
            let full = root + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
        try put("/proc/cpuinfo", "processor\t: 0\nmodel name\t: Test Xeon 9000\n")
        try put("/sys/devices/system/node/node0/cpulist", "0-3,8\n")
        try put("/sys/devices/system/node/node0/meminfo", "Node 0 MemTotal:       1024 kB\nNode 0 MemFree: 5 kB\n")
        try put("/sys/devices/system/node/node0/distance", "10 21\n")
        try put("/sys/devices/system/node/node1/cpulist", "4-7,9\n")
        try put("/sys/devices/system/node/node1/meminfo", "Node 1 MemTotal:       2048 kB\n")
        try put("/sys/devices/system/node/node1/distance", "21 10\n")
        for (index, level, type, size) in [(0, 1, "Data", "48K"), (1, 1, "Instruction", "32K"), (2, 2, "Unified", "2048K"), (3, 3, "Unified", "64M")] {
            let base = "/sys/devices/system/cpu/cpu0/cache/index\(index)"
            try put(base + "/level", "\(level)\n"); try put(base + "/type", type + "\n"); try put(base + "/size", size + "\n")
        }
        let topology = Topology.current(root: root)
        XCTAssertEqual(topology.cpuModel, "Test Xeon 9000")
        XCTAssertEqual(topology.nodes, [.init(id: 0, cpus: [0, 1, 2, 3, 8], memoryBytes: 1 << 20), .init(id: 1, cpus: [4, 5, 6, 7, 9], memoryBytes: 2 << 20)])
        XCTAssertEqual(topology.distances, [[10, 21], [21, 10]])
        XCTAssertEqual(topology.caches, .init(l1d: 48 << 10, l2: 2 << 20, l3: 64 << 20))
        XCTAssertEqual(topology.node(ofCPU: 9), 1)
        let empty = Topology.current(root: root + "/nothing")
        XCTAssertEqual(empty.nodes.count, 1, "no NUMA information: one node with every core")
    }

    func testTopologyOfThisMachineAgreesWithSysfs() throws {
        let topology = Topology.machine
        XCTAssertFalse(topology.nodes.isEmpty)
        XCTAssertEqual(topology.distances.count, topology.nodes.count)
        XCTAssertEqual(Set(topology.nodes.flatMap(\.cpus)).count, topology.nodes.flatMap(\.cpus).count, "each CPU on one node")
    }
}

final class NumactlAgreementTests: XCTestCase {
    /// `relayout info` reports `Topology.machine`; it must agree with `numactl --hardware` where
    /// numactl is installed.
    func testTopologyAgreesWithNumactl() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/numactl")
        process.arguments = ["--hardware"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = Pipe()
        do { try process.run() } catch { throw XCTSkip("numactl is not installed") }
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw XCTSkip("numactl --hardware failed: \(text)") }
        let topology = Topology.machine
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            if words.count >= 3, words[0] == "node", let id = Int(words[1]), words[2] == "cpus:" {
                XCTAssertEqual(topology.nodes.first { $0.id == id }?.cpus, words.dropFirst(3).compactMap { Int($0) }, line.description)
            }
            if words.count >= 5, words[0] == "node", let id = Int(words[1]), words[2] == "size:", let mb = Int(words[3]) {
                XCTAssertEqual(topology.nodes.first { $0.id == id }.map { $0.memoryBytes >> 20 }, mb, line.description)
            }
            if words.first == "available:", let count = Int(words[1]) {
                XCTAssertEqual(topology.nodes.count, count)
            }
        }
    }
}
