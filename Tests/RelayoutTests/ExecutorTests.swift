import Dispatch
import Synchronization
import XCTest
@testable import Relayout

/// The executor and its parked worker pool: every chunk runs exactly once whatever the contention.
final class ExecutorTests: XCTestCase {
    /// Runs `chunks` chunks and returns how often each ran.
    private static func counts(chunks: Int, workers: Int) -> [Int] {
        let runs = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: chunks)
        for k in 0..<chunks { (runs + k).initialize(to: Atomic(0)) }
        defer { runs.deinitialize(count: chunks); runs.deallocate() }
        nonisolated(unsafe) let shared = runs
        Executor.run(chunks: chunks, workers: workers) { chunk, worker in
            precondition(worker >= 0 && worker < workers)
            shared[chunk].add(1, ordering: .relaxed)
        }
        return (0..<chunks).map { runs[$0].load(ordering: .relaxed) }
    }

    func testEveryChunkRunsOnceForEveryWorkerCount() {
        for workers in 1...9 {
            for chunks in [0, 1, 2, 3, 17, 1000] {
                XCTAssertEqual(Self.counts(chunks: chunks, workers: workers), Array(repeating: 1, count: chunks), "\(chunks) chunks, \(workers) workers")
            }
        }
    }

    func testConcurrentCallersShareThePoolOrFallBack() {
        // Eight threads run jobs at once: one wins the pool, the others use concurrentPerform.
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 8) { caller in
            for round in 0..<50 {
                let chunks = 1 + (caller * 31 + round * 7) % 200
                if Self.counts(chunks: chunks, workers: 2 + caller % 4) != Array(repeating: 1, count: chunks) {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        XCTAssertEqual(failures.load(ordering: .relaxed), 0)
    }

    func testJobsStartedFromInsideAJobComplete() {
        // The inner jobs find the pool busy (the outer job holds it) and fall back.
        let inner = Atomic<Int>(0)
        Executor.run(chunks: 6, workers: 3) { _, _ in
            Executor.run(chunks: 10, workers: 2) { _, _ in inner.add(1, ordering: .relaxed) }
        }
        XCTAssertEqual(inner.load(ordering: .relaxed), 60)
    }

    func testParallelCopiesFromManyThreadsMatchTheReference() throws {
        let source = try RawTensor(shape: [300, 500], elementSize: 4)
        var rng = SeededGenerator(seed: 11)
        EngineTests.fillRandom(source.storage, using: &rng)
        let view = try source.permuted([1, 0])
        let expected = try RawTensor(shape: view.shape, elementSize: 4)
        ReferenceCopy.copy(from: view.storage.baseAddress, layout: view.layout, to: expected.storage.baseAddress, layout: expected.layout, elementSize: 4)
        let want = EngineTests.bytes(expected)
        let mismatches = Atomic<Int>(0)
        let shared = view
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<10 {
                let plan = try! CopyPlan(source: shared.layout, destination: expected.layout, elementSize: 4, tuning: EngineTests.smallTuning, threads: 3)
                let result = try! RawTensor(shape: shared.shape, elementSize: 4)
                plan.execute(source: shared.storage.baseAddress, destination: result.storage.baseAddress)
                if EngineTests.bytes(result) != want { mismatches.add(1, ordering: .relaxed) }
            }
        }
        XCTAssertEqual(mismatches.load(ordering: .relaxed), 0)
    }
}
