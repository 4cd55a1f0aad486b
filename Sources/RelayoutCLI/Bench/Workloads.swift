#if canImport(Glibc)
import Glibc
#endif
import Relayout

/// What a workload measured. `bytes` counts bytes read plus bytes written; `gbps` is bytes / s.
struct WorkloadResult: Encodable {
    var `case`: String
    var bytes: Int
    var seconds: Double
    var gbps: Double
    /// memcpy of half `bytes` into preallocated, touched memory (the same traffic), same threads.
    var memcpyGbps: Double
    var ratio: Double
    var threads: Int
}

/// The `deepcopy` and `loader` suites: the two workloads of Relayout's users, with the same sizes as
/// `Benchmarks/numpy_peer.py --suite deepcopy|loader`.
enum Workloads {
    /// Storage sizes of the state-dict-like collection: 400 storages, 344 MiB.
    static let deepCopySizes: [(count: Int, bytes: Int)] = [(300, 1 << 10), (60, 64 << 10), (20, 1 << 20), (12, 8 << 20), (6, 16 << 20), (2, 64 << 20)]

    static func memcpyGbps(bytes: Int, threads: Int, repeats: Int) throws -> Double {
        let source = try Storage(byteCount: bytes), destination = try Storage(byteCount: bytes)
        memset(source.baseAddress, 1, bytes)
        memset(destination.baseAddress, 0, bytes)
        let times = (0...repeats).map { _ in
            Stopwatch.seconds { ParallelMemcpy.copy(from: source.baseAddress, to: destination.baseAddress, byteCount: bytes, threads: threads) }
        }.dropFirst()
        return 2 * Double(bytes) / median(Array(times)) / 1e9
    }

    /// `deepCopy` of a dictionary of 448 tensors (400 storages of 1 KiB to 64 MiB and 48 views of
    /// them), allocations included.
    static func deepCopy(threads: Int, repeats: Int) throws -> WorkloadResult {
        var state = [String: RawTensor]()
        var storages = [RawTensor]()
        for (count, bytes) in deepCopySizes {
            for _ in 0..<count {
                let t = try RawTensor(shape: [bytes / 4 / 64, 64], elementSize: 4)
                memset(t.storage.baseAddress, 7, bytes)
                state["param.\(storages.count)"] = t
                storages.append(t)
            }
        }
        for k in 0..<48 {
            let base = storages[storages.count - 1 - (k % 100)]
            state["view.\(k)"] = k % 2 == 0 ? try base.transposed(0, 1) : try base.sliced(axis: 0, start: 1, step: 2)
        }
        let bytes = storages.reduce(0) { $0 + $1.storage.byteCount }
        var times = [Double]()
        for _ in 0...repeats {
            var copy: [String: RawTensor]?
            times.append(try Stopwatch.seconds { copy = try Relayout.deepCopy(state, threads: threads) })
            precondition(copy?.count == state.count)
            copy = nil
        }
        let seconds = median(Array(times.dropFirst()))
        let memcpy = try memcpyGbps(bytes: bytes, threads: threads, repeats: repeats)
        let gbps = 2 * Double(bytes) / seconds / 1e9
        return WorkloadResult(case: "deepcopy:448 tensors, \(bytes >> 20) MiB", bytes: 2 * bytes, seconds: seconds, gbps: gbps,
                              memcpyGbps: memcpy, ratio: gbps / memcpy, threads: threads)
    }

    /// 256 samples of 224×224×3 UInt8 collated into a reused Float32 NCHW batch, normalised per channel.
    static func loader(threads: Int, repeats: Int) throws -> WorkloadResult {
        let shape = [224, 224, 3]
        let samples = try (0..<256).map { k -> RawTensor in
            let t = try RawTensor(shape: shape, elementSize: 1)
            memset(t.storage.baseAddress, Int32(k), t.storage.byteCount)
            return t
        }
        let collation = try Collation(sampleShape: shape, inputElementSize: 1, permutation: [2, 0, 1], output: .float32,
                                      scale: [1 / (0.229 * 255), 1 / (0.224 * 255), 1 / (0.225 * 255)], shift: [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225])
        let batch = try collation.makeBatch(count: samples.count)
        memset(batch.storage.baseAddress, 0, batch.storage.byteCount)
        var times = [Double]()
        for _ in 0...repeats {
            times.append(try Stopwatch.seconds { try collation.collate(samples, into: batch, threads: threads) })
        }
        let seconds = median(Array(times.dropFirst()))
        let traffic = samples.count * shape.reduce(1, *) * (1 + 4)
        let memcpy = try memcpyGbps(bytes: traffic / 2, threads: threads, repeats: repeats)
        let gbps = Double(traffic) / seconds / 1e9
        return WorkloadResult(case: "loader:256x224x224x3 u1 -> f4 NCHW normalised", bytes: traffic, seconds: seconds, gbps: gbps,
                              memcpyGbps: memcpy, ratio: gbps / memcpy, threads: threads)
    }
}
