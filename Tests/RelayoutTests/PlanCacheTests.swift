import XCTest
@testable import Relayout

/// The plan cache: a repeated copy reuses its plan, and nothing about a plan ties it to one storage.
final class PlanCacheTests: XCTestCase {
    private func key(_ shape: [Int], threads: Int = 2, tuning: CopyTuning = .defaults) throws -> PlanCache.Key {
        let layout = try Layout.rowMajor(shape)
        return PlanCache.Key(source: try layout.permuted(Array((0..<shape.count).reversed())), destination: .dense(.contiguous),
                             elementSize: 4, threads: threads, tuning: tuning)
    }

    private func make(_ key: PlanCache.Key) throws -> CopyPlan {
        try CopyPlan(source: key.source, destination: try Layout.rowMajor(key.source.shape), elementSize: 4, tuning: key.tuning, threads: key.threads)
    }

    func testAPlanIsMadeOncePerKeyAndReplacedRoundRobin() throws {
        let cache = PlanCache(capacity: 2)
        var made = 0
        let a = try key([3, 4]), b = try key([5, 6]), c = try key([7, 8])
        for k in [a, a, b, a, b] { _ = try cache.plan(for: k) { made += 1; return try make(k) } }
        XCTAssertEqual(made, 2)
        _ = try cache.plan(for: c) { made += 1; return try make(c) }   // replaces a, the oldest
        _ = try cache.plan(for: b) { made += 1; return try make(b) }
        XCTAssertEqual(made, 3)
        _ = try cache.plan(for: a) { made += 1; return try make(a) }
        XCTAssertEqual(made, 4)
    }

    func testEveryPartOfTheKeyCounts() throws {
        let cache = PlanCache(capacity: 8)
        var made = 0
        var tuned = CopyTuning.defaults
        tuned.chunkBytes *= 2
        let keys = [try key([3, 4]), try key([3, 4], threads: 3), try key([3, 4], tuning: tuned), try key([4, 3])]
        for k in keys + keys { _ = try cache.plan(for: k) { made += 1; return try make(k) } }
        XCTAssertEqual(made, keys.count)
    }

    func testAFailedPlanIsNotCached() throws {
        let cache = PlanCache(capacity: 2)
        let k = try key([3, 4])
        XCTAssertThrowsError(try cache.plan(for: k) { throw RelayoutError.invalidArgument("planning failed") })
        var made = 0
        _ = try cache.plan(for: k) { made += 1; return try make(k) }
        XCTAssertEqual(made, 1)
    }

    func testRepeatedCopiesOfOneKindOfViewGiveEachSourcesOwnResult() throws {
        // The same layouts on different storages (a loop's contiguous() every step): cached plans
        // carry no pointers, so every result is its own source's.
        for shape in [[37, 41], [300, 700], [9, 33, 65]] {
            for seed in 1...3 {
                let source = try RawTensor(shape: shape, elementSize: 4)
                var rng = SeededGenerator(seed: UInt64(seed))
                EngineTests.fillRandom(source.storage, using: &rng)
                let view = try source.permuted(Array((0..<shape.count).reversed()))
                let result = try view.contiguous(threads: 2)
                let into = try RawTensor(shape: view.shape, elementSize: 4)
                try into.copy(from: view, threads: 2)
                let expected = try RawTensor(shape: view.shape, elementSize: 4)
                ReferenceCopy.copy(from: view.storage.baseAddress, layout: view.layout, to: expected.storage.baseAddress, layout: expected.layout, elementSize: 4)
                XCTAssertEqual(EngineTests.bytes(result), EngineTests.bytes(expected), "\(shape) seed \(seed)")
                XCTAssertEqual(EngineTests.bytes(into), EngineTests.bytes(expected), "\(shape) seed \(seed)")
                XCTAssertTrue(result.layout.isContiguous)
                XCTAssertFalse(result.sharesStorage(with: view))
            }
        }
    }
}
