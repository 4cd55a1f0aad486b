import XCTest
@testable import Relayout

/// Freed results' huge pages kept for the next result of the same size (`RetainedMappings`).
final class RetainedPagesTests: XCTestCase {
    private var savedLimit = 0

    override func setUp() {
        savedLimit = Storage.retainedBytesLimit
        Storage.retainedBytesLimit = 64 << 20
        Storage.releaseRetainedPages()
    }

    override func tearDown() {
        Storage.retainedBytesLimit = savedLimit
        Storage.releaseRetainedPages()
    }

    private func randomTensor(_ shape: [Int], elementSize: Int = 4, seed: UInt64) throws -> RawTensor {
        let tensor = try RawTensor(shape: shape, elementSize: elementSize)
        var rng = SeededGenerator(seed: seed)
        EngineTests.fillRandom(tensor.storage, using: &rng)
        return tensor
    }

    func testAFreedResultsPagesServeTheNextResultOfItsSize() throws {
        let a = try randomTensor([1100, 1300], seed: 1).permuted([1, 0])
        let b = try randomTensor([1100, 1300], seed: 2).permuted([1, 0])
        let rounded = (1100 * 1300 * 4 + (2 << 20) - 1) / (2 << 20) * (2 << 20)
        var first: RawTensor? = try a.contiguous(threads: 2)
        XCTAssertTrue(first!.storage.pagesAreFresh)
        let firstAddress = first!.storage.baseAddress
        EngineTests.assertSameBytes(first!, try EngineTests.referenceResult(a, first!), "fresh")
        first = nil
        XCTAssertEqual(Storage.retainedBytes, rounded, "the freed result is kept")
        // The next result of that size gets the same pages, stale contents and all, and overwrites them.
        let second = try b.contiguous(threads: 2)
        XCTAssertFalse(second.storage.pagesAreFresh)
        XCTAssertEqual(second.storage.baseAddress, firstAddress)
        XCTAssertEqual(Storage.retainedBytes, 0)
        EngineTests.assertSameBytes(second, try EngineTests.referenceResult(b, second), "reused")
        // clone() and deepCopy() overwrite their whole result too.
        let secondBytes = EngineTests.bytes(second)
        var other: RawTensor? = try b.contiguous(threads: 2)
        other = nil
        let cloned = try second.clone(threads: 2)
        XCTAssertFalse(cloned.storage.pagesAreFresh)
        XCTAssertEqual(EngineTests.bytes(cloned), secondBytes)
        other = try b.contiguous(threads: 2)
        other = nil
        let deep = try second.deepCopy()
        XCTAssertFalse(deep.storage.pagesAreFresh)
        XCTAssertEqual(EngineTests.bytes(deep), secondBytes)
        withExtendedLifetime(other) {}
    }

    func testStorageAskedForDirectlyIsAlwaysFreshAndZero() throws {
        var kept: Storage? = try Storage(byteCount: 6 << 20, placement: .firstTouch)
        memset(kept!.baseAddress, 0xAB, kept!.byteCount)
        kept = nil
        XCTAssertEqual(Storage.retainedBytes, 6 << 20)
        let asked = [try Storage(byteCount: 6 << 20, placement: .firstTouch), try RawTensor(shape: [6 << 18], elementSize: 4, placement: .firstTouch).storage]
        for storage in asked {
            XCTAssertTrue(storage.pagesAreFresh)
            let bytes = UnsafeRawBufferPointer(start: storage.baseAddress, count: storage.byteCount)
            XCTAssertTrue(bytes.allSatisfy { $0 == 0 }, "fresh pages read as zero")
        }
        XCTAssertEqual(Storage.retainedBytes, 6 << 20, "still kept: only copies that overwrite everything take it")
        withExtendedLifetime(asked) {}
    }

    func testOnlyTheSameRoundedSizeMatchesAndTheLimitHolds() throws {
        let source = try randomTensor([700, 1500], seed: 3).permuted([1, 0])
        var result: RawTensor? = try source.contiguous(threads: 2)
        result = nil
        let kept = Storage.retainedBytes
        XCTAssertGreaterThan(kept, 0)
        // Another size does not match.
        let wider = try randomTensor([700, 2500], seed: 4).permuted([1, 0])
        let other = try wider.contiguous(threads: 2)
        XCTAssertTrue(other.storage.pagesAreFresh)
        XCTAssertEqual(Storage.retainedBytes, kept)
        // Over the limit: the oldest goes back to the system first; a mapping larger than the limit is never kept.
        Storage.retainedBytesLimit = kept
        var wide: RawTensor? = try wider.contiguous(threads: 2)
        wide = nil
        XCTAssertEqual(Storage.retainedBytes, kept, "too large for the limit: unmapped")
        Storage.retainedBytesLimit = 0
        result = try source.contiguous(threads: 2)
        XCTAssertFalse(result!.storage.pagesAreFresh, "what was kept is still served")
        result = nil
        XCTAssertEqual(Storage.retainedBytes, 0, "limit 0 keeps nothing")
        result = try source.contiguous(threads: 2)
        XCTAssertTrue(result!.storage.pagesAreFresh)
        EngineTests.assertSameBytes(result!, try EngineTests.referenceResult(source, result!), "fresh again")
        withExtendedLifetime((wide, other)) {}
    }

    func testEvictionKeepsAtMostTheLimitAndTheNewest() throws {
        let unit = 4 << 20
        Storage.retainedBytesLimit = 3 * unit
        var storages: [Storage?] = try (0..<5).map { _ in try Storage(byteCount: unit, placement: .firstTouch) }
        let newest = storages.last!!.baseAddress
        for k in storages.indices { storages[k] = nil }
        XCTAssertEqual(Storage.retainedBytes, 3 * unit)
        let source = try randomTensor([1024, 1024], seed: 5).permuted([1, 0])
        let result = try source.contiguous(threads: 2)
        XCTAssertEqual(result.storage.baseAddress, newest, "the most recently freed mapping is served first")
        Storage.retainedBytesLimit = 64 * unit
        storages = try (0..<(RetainedMappings.maximumCount + 3)).map { _ in try Storage(byteCount: unit, placement: .firstTouch) }
        for k in storages.indices { storages[k] = nil }
        XCTAssertEqual(Storage.retainedBytes, RetainedMappings.maximumCount * unit, "at most maximumCount mappings")
        EngineTests.assertSameBytes(result, try EngineTests.referenceResult(source, result), "reused")
    }

    func testKeptPagesDecay() throws {
        var storages: [Storage?] = try (0..<3).map { _ in try Storage(byteCount: 4 << 20, placement: .firstTouch) }
        for k in storages.indices { storages[k] = nil }
        XCTAssertEqual(Storage.retainedBytes, 12 << 20)
        // Nothing is an hour old: all stay, and the next sweep is due within the decay time.
        let due = try XCTUnwrap(RetainedMappings.unmapOlder(than: 3600 * 1_000_000_000))
        XCTAssertTrue((1...3600).contains(due))
        XCTAssertEqual(Storage.retainedBytes, 12 << 20)
        // Everything is at least 0 ns old: all go.
        XCTAssertNil(RetainedMappings.unmapOlder(than: 0))
        XCTAssertEqual(Storage.retainedBytes, 0)
    }

    func testASweepThatReadTheClockBeforeAMappingWasKeptLeavesIt() throws {
        // A sweep's "now" earlier than a kept mapping's stamp (a result freed on another thread
        // between the two) once trapped on the unsigned difference (`relayout bench` crashed in the
        // decay sweep). Such a mapping is 0 ns old: it stays unless the age asked for is 0.
        var storage: Storage? = try Storage(byteCount: 4 << 20, placement: .firstTouch)
        storage = nil
        XCTAssertNil(storage)
        XCTAssertEqual(Storage.retainedBytes, 4 << 20)
        let due = try XCTUnwrap(RetainedMappings.unmapOlder(than: 5_000_000_000, now: 1))
        XCTAssertEqual(due, 5)
        XCTAssertEqual(Storage.retainedBytes, 4 << 20)
        XCTAssertNil(RetainedMappings.unmapOlder(than: 0, now: 1))
        XCTAssertEqual(Storage.retainedBytes, 0)
    }

    func testConcurrentResultsAreEachCorrect() throws {
        let sources = try (0..<4).map { try randomTensor([1024, 1536], seed: 10 + UInt64($0)).permuted([1, 0]) }
        let expected = try sources.map { source -> [UInt8] in
            let result = try source.contiguous(threads: 1)
            return try EngineTests.referenceResult(source, result)
        }
        let failures = Locked(0)
        DispatchQueue.concurrentPerform(iterations: 4) { k in
            for _ in 0..<6 {
                guard let result = try? sources[k].contiguous(threads: 1), EngineTests.bytes(result) == expected[k] else {
                    failures.withLock { $0 += 1 }
                    continue
                }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, 0)
        XCTAssertLessThanOrEqual(Storage.retainedBytes, Storage.retainedBytesLimit)
    }
}
