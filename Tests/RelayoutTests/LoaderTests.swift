import XCTest
@testable import Relayout

final class LoaderTests: XCTestCase {
    var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "relayout-loader-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder + "/samples", withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    /// Sample k is filled with the byte k (so a batch shows which samples it holds, and in what order).
    func writeSamples(_ count: Int, shape: [Int]) throws {
        for k in 0..<count {
            let t = try Tensor<UInt8>(shape: shape, elements: [UInt8](repeating: UInt8(k), count: shape.reduce(1, *)))
            try NpyFile.write(t.raw, dtype: .uint8, to: folder + "/samples/" + String(format: "%04d.npy", k))
        }
        let all = try Tensor<UInt8>(shape: [count] + shape, elements: (0..<count).flatMap { [UInt8](repeating: UInt8($0), count: shape.reduce(1, *)) })
        try NpyFile.write(all.raw, dtype: .uint8, to: folder + "/all.npy")
    }

    func collect(_ loader: Loader) async throws -> [(indices: [Int], firstValues: [Float], shape: [Int])] {
        var result = [(indices: [Int], firstValues: [Float], shape: [Int])]()
        for try await batch in loader {
            let values = try (0..<batch.indices.count).map { try Tensor<Float>(batch.tensor).element(at: [$0, 0, 0, 0]) }
            result.append((batch.indices, values, batch.tensor.shape))
        }
        return result
    }

    func testBatchesInOrderAndShuffledWithASeed() async throws {
        try writeSamples(10, shape: [4, 5, 3])
        let c = try Collation(sampleShape: [4, 5, 3], inputElementSize: 1, permutation: [2, 0, 1], output: .float32, scale: [2], shift: [1])
        for dataset in [Dataset.directory(path: folder + "/samples"), .array(path: folder + "/all.npy")] {
            let plain = try await collect(Loader(dataset: dataset, collation: c, batchSize: 4, prefetch: 1))
            XCTAssertEqual(plain.map(\.indices), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]], "the last partial batch is kept")
            XCTAssertEqual(plain.map(\.shape), [[4, 3, 4, 5], [4, 3, 4, 5], [2, 3, 4, 5]])
            XCTAssertEqual(plain.flatMap(\.firstValues), (0..<10).map { Float($0) * 2 + 1 }, "each sample converted and normalised")

            let shuffled = try await collect(Loader(dataset: dataset, collation: c, batchSize: 3, shuffle: true, seed: 42, dropLast: true))
            let again = try await collect(Loader(dataset: dataset, collation: c, batchSize: 3, shuffle: true, seed: 42, dropLast: true))
            XCTAssertEqual(shuffled.map(\.indices), again.map(\.indices), "a seed gives one order")
            XCTAssertEqual(shuffled.count, 3, "dropLast drops the partial batch")
            XCTAssertNotEqual(shuffled.flatMap(\.indices), Array(0..<9))
            XCTAssertEqual(shuffled.flatMap(\.firstValues), shuffled.flatMap(\.indices).map { Float($0) * 2 + 1 })
        }
    }

    func testBuffersAreReusedAndPrefetchIsBounded() async throws {
        try writeSamples(12, shape: [2, 2, 1])
        let c = try Collation(sampleShape: [2, 2, 1], inputElementSize: 1)
        let loader = try Loader(dataset: .directory(path: folder + "/samples"), collation: c, batchSize: 2, prefetch: 2)
        var storages = Set<ObjectIdentifier>()
        for try await batch in loader { storages.insert(ObjectIdentifier(batch.tensor.storage)) }
        XCTAssertLessThanOrEqual(storages.count, 3, "at most prefetch 2 plus the one being consumed, reused across six batches")
    }

    func testACorruptFileEndsTheSequenceWithAnErrorNamingIt() async throws {
        try writeSamples(6, shape: [2, 2, 3])
        try Data("not a npy file".utf8).write(to: URL(fileURLWithPath: folder + "/samples/0004.npy"))
        let c = try Collation(sampleShape: [2, 2, 3], inputElementSize: 1, output: .float32)
        let loader = try Loader(dataset: .directory(path: folder + "/samples"), collation: c, batchSize: 2)
        var seen = [[Int]]()
        do {
            for try await batch in loader { seen.append(batch.indices) }
            XCTFail("the corrupt file was not reported")
        } catch {
            XCTAssertTrue("\(error)".contains("0004.npy"), "\(error)")
        }
        XCTAssertEqual(seen, [[0, 1], [2, 3]], "batches before the bad one arrive, nothing after")

        // A sample of the wrong shape names its file too.
        try NpyFile.write(Tensor<UInt8>(zerosOf: [3, 2, 3]).raw, dtype: .uint8, to: folder + "/samples/0004.npy")
        do {
            for try await _ in try Loader(dataset: .directory(path: folder + "/samples"), collation: c, batchSize: 6) {}
            XCTFail("the mismatched sample was not reported")
        } catch {
            XCTAssertTrue("\(error)".contains("0004.npy") && "\(error)".contains("shape"), "\(error)")
        }
    }

    func testBadLoaderArgumentsAndDatasets() throws {
        let c = try Collation(sampleShape: [2, 2, 3], inputElementSize: 1)
        XCTAssertThrowsError(try Loader(dataset: .directory(path: folder + "/missing"), collation: c, batchSize: 2))
        XCTAssertThrowsError(try Loader(dataset: .array(path: folder + "/missing.npy"), collation: c, batchSize: 2))
        XCTAssertThrowsError(try Loader(dataset: .directory(path: folder + "/samples"), collation: c, batchSize: 0))
        try writeSamples(2, shape: [2, 2, 4])
        XCTAssertThrowsError(try Loader(dataset: .array(path: folder + "/all.npy"), collation: c, batchSize: 2), "array of another sample shape")
    }

    func testStoppingEarlyStopsTheProducer() async throws {
        try writeSamples(20, shape: [2, 2, 1])
        let c = try Collation(sampleShape: [2, 2, 1], inputElementSize: 1)
        var count = 0
        for try await _ in try Loader(dataset: .directory(path: folder + "/samples"), collation: c, batchSize: 1, prefetch: 2) {
            count += 1
            if count == 3 { break }
        }
        XCTAssertEqual(count, 3)
    }
}
