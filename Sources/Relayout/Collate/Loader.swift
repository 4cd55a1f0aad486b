#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where a ``Loader``'s samples come from.
public enum Dataset: Sendable {
    /// One `.npy` file whose first dimension indexes the samples (memory-mapped).
    case array(path: String)
    /// A folder of per-sample `.npy` files, taken in file-name order.
    case directory(path: String)
}

/// One batch from a ``Loader``.
public struct Batch: Sendable {
    /// `[count] + collation.outputSampleShape`. Its memory is a reused buffer: it stays valid until the
    /// iterator's next call to `next()`; copy it (``RawTensor/clone(threads:)``) to keep it longer.
    public let tensor: RawTensor
    /// The dataset index of each sample, in batch order.
    public let indices: [Int]
}

/// Yields collated batches of a dataset as an `AsyncSequence`: a fixed or seeded-shuffled order,
/// a bounded number of batches prepared ahead, batch buffers reused. A missing or bad sample file ends
/// the sequence with an error that names the file.
public struct Loader: AsyncSequence, Sendable {
    public typealias Element = Batch

    public let dataset: Dataset
    public let collation: Collation
    public let batchSize: Int
    /// The sample order: `0..<count`, or a permutation drawn from `seed`.
    public let order: [Int]
    /// Batches prepared ahead of the consumer.
    public let prefetch: Int
    public let threads: Int?
    let files: [String]
    let array: RawTensor?

    public init(dataset: Dataset, collation: Collation, batchSize: Int, shuffle: Bool = false, seed: UInt64 = 0,
                dropLast: Bool = false, prefetch: Int = 2, threads: Int? = nil) throws {
        guard batchSize >= 1 else { throw RelayoutError.invalidArgument("batch size must be at least 1, got \(batchSize)") }
        guard prefetch >= 1 else { throw RelayoutError.invalidArgument("prefetch must be at least 1, got \(prefetch)") }
        self.dataset = dataset
        self.collation = collation
        self.batchSize = batchSize
        self.prefetch = prefetch
        self.threads = threads
        let count: Int
        switch dataset {
        case let .array(path):
            let stored = try NpyFile.read(path: path)
            guard stored.tensor.rank == collation.sampleShape.count + 1, Array(stored.tensor.shape.dropFirst()) == collation.sampleShape,
                  stored.tensor.elementSize == collation.inputElementSize
            else {
                throw RelayoutError.shapeMismatch("'\(path)' holds \(stored.tensor.shape) of \(stored.dtype.rawValue), expected N × \(collation.sampleShape) of \(collation.inputElementSize)-byte elements")
            }
            array = stored.tensor
            files = []
            count = stored.tensor.shape[0]
        case let .directory(path):
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else {
                throw RelayoutError.io("cannot list folder '\(path)'")
            }
            files = names.filter { $0.hasSuffix(".npy") }.sorted().map { path + "/" + $0 }
            array = nil
            count = files.count
        }
        var order = Array(0..<count)
        if shuffle {
            var generator = SeededGenerator(seed: seed)
            order.shuffle(using: &generator)
        }
        if dropLast { order.removeLast(order.count % batchSize) }
        self.order = order
    }

    /// The number of batches the sequence yields.
    public var batchCount: Int { (order.count + batchSize - 1) / batchSize }

    /// Loads and collates batch `k` into `buffer`.
    func fill(_ k: Int, into buffer: RawTensor) throws -> Batch {
        let indices = Array(order[(k * batchSize)..<Swift.min(order.count, (k + 1) * batchSize)])
        let samples = try indices.map { index -> RawTensor in
            if let array { return try array.selected(axis: 0, index: index) }
            let file = files[index]
            let sample: NpyArray
            do { sample = try NpyFile.read(path: file) } catch { throw RelayoutError.io("sample \(index) ('\(file)'): \(error)") }
            do { try collation.check(sample.tensor, index: index) } catch { throw RelayoutError.shapeMismatch("sample \(index) ('\(file)'): \(error)") }
            return sample.tensor
        }
        try collation.collate(samples, into: buffer, threads: threads)
        let tensor = indices.count == batchSize ? buffer : try buffer.sliced(axis: 0, stop: indices.count)
        return Batch(tensor: tensor, indices: indices)
    }

    public func makeAsyncIterator() -> Iterator { Iterator(self) }

    public struct Iterator: AsyncIteratorProtocol {
        let pool: BufferPool
        var batches: AsyncThrowingStream<(Batch, RawTensor), Error>.AsyncIterator
        var held: RawTensor?

        init(_ loader: Loader) {
            let pool = BufferPool()
            self.pool = pool
            let (stream, continuation) = AsyncThrowingStream<(Batch, RawTensor), Error>.makeStream()
            let producer = Task {
                do {
                    for _ in 0...loader.prefetch { await pool.release(try loader.collation.makeBatch(count: loader.batchSize)) }
                    for k in 0..<loader.batchCount {
                        let buffer = try await pool.acquire()
                        continuation.yield((try loader.fill(k, into: buffer), buffer))
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error is CancellationError ? nil : error)
                }
            }
            continuation.onTermination = { _ in
                producer.cancel()
                Task { await pool.cancel() }
            }
            batches = stream.makeAsyncIterator()
        }

        /// The next batch; the previous batch's buffer goes back to the producer first.
        public mutating func next() async throws -> Batch? {
            if let held {
                await pool.release(held)
                self.held = nil
            }
            guard let (batch, buffer) = try await batches.next() else { return nil }
            held = buffer
            return batch
        }
    }
}

/// Batch buffers shared by the producer and the consumer: the producer waits for a free one, so
/// at most `prefetch` batches are ever ahead.
actor BufferPool {
    private var free: [RawTensor] = []
    private var waiting: [CheckedContinuation<RawTensor, Error>] = []
    private var cancelled = false

    func acquire() async throws -> RawTensor {
        if cancelled { throw CancellationError() }
        if let buffer = free.popLast() { return buffer }
        return try await withCheckedThrowingContinuation { waiting.append($0) }
    }

    func release(_ buffer: RawTensor) {
        if !waiting.isEmpty { waiting.removeFirst().resume(returning: buffer) } else { free.append(buffer) }
    }

    func cancel() {
        cancelled = true
        for waiter in waiting { waiter.resume(throwing: CancellationError()) }
        waiting.removeAll()
    }
}

/// SplitMix64: a small, fast, seedable generator, so a seed gives the same order everywhere.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
