#if canImport(Glibc)
import Glibc
#endif
import Relayout

/// What one case measured. Bandwidth counts bytes read plus bytes written.
struct BenchResult: Encodable {
    var `case`: String
    var bytes: Int
    /// Median seconds of `copy(from:)` into a preallocated, already touched destination.
    var seconds: Double
    var gbps: Double
    var memcpyGbps: Double
    /// gbps / memcpyGbps.
    var ratio: Double
    /// Median seconds of `contiguous()`, allocation of the result included.
    var contiguousSeconds: Double
    var contiguousGbps: Double
    var contiguousRatio: Double
    /// A plain single-threaded strided loop on the same case (small suite only).
    var loopGbps: Double?
    /// `contiguous()` variants (with --allocation): pages faulted in by one thread before the copy,
    /// and no transparent huge pages.
    var contiguousSerialTouchGbps: Double?
    var contiguousNoHugePagesGbps: Double?
    /// `contiguous()` with no freed result's pages kept for reuse (`Storage.retainedBytesLimit` 0), so
    /// every result gets fresh pages (with --allocation). The plain figure above reuses the pages of
    /// the previous sample's result, as a loop making results of one size does.
    var contiguousFreshPagesGbps: Double?
    /// memcpy of the same bytes into fresh pages (first touch, huge pages) on the same threads (with
    /// --allocation): the ceiling for any copy that allocates its result.
    var freshMemcpyGbps: Double?
    var kernel: String
    var threads: Int
    /// How the copy was planned (``CopyPlan/description``).
    var plan: String
}

/// Runs cases the same way for `relayout bench` and the docs' figures.
struct BenchRunner {
    var threads: Int
    var repeats: Int
    var withLoop: Bool
    var allocationModes = false

    static func gbps(_ bytes: Int, _ seconds: Double) -> Double { 2 * Double(bytes) / seconds / 1e9 }

    /// Calls per timed sample for a copy of `bytes`: enough to move 1 MiB, at least one.
    static func batch(bytes: Int) -> Int { Swift.max(1, (1 << 20) / Swift.max(bytes, 1)) }

    /// Seconds `body` takes to make a tensor; the tensor is freed after the clock stops, so giving
    /// its pages back is not timed.
    static func secondsKeeping(_ body: () throws -> RawTensor) rethrows -> Double {
        var kept: RawTensor?
        let seconds = try Stopwatch.seconds { kept = try body() }
        withExtendedLifetime(kept) {}
        return seconds
    }

    func run(_ benchCase: BenchCase) throws -> BenchResult {
        let elementSize = benchCase.dtype.elementSize
        let source = try RawTensor(shape: benchCase.shape, elementSize: elementSize)
        // Non-zero content, and every page touched before timing starts.
        memset(source.storage.baseAddress, 0x5A, source.storage.byteCount)
        let view = try source.permuted(benchCase.permutation).indexed(benchCase.index.map(IndexSpec.parseList) ?? [])
        let destination = try RawTensor(shape: view.shape, elementSize: elementSize)
        memset(destination.storage.baseAddress, 0, destination.storage.byteCount)
        let bytes = benchCase.bytes
        let plan = try CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize, threads: threads)

        func copyOnce() throws { try destination.copy(from: view, threads: threads) }
        func memcpyOnce() {
            ParallelMemcpy.copy(from: source.storage.baseAddress, to: destination.storage.baseAddress, byteCount: bytes, threads: threads)
        }
        try copyOnce()
        memcpyOnce()
        var copyTimes = [Double](), memcpyTimes = [Double](), contiguousTimes = [Double](), loopTimes = [Double]()
        // Copies under a microsecond are timed in batches, so that the clock's own cost and jitter
        // do not swamp them: one sample moves at least 1 MiB (1 KiB copies: 1024 per sample).
        // contiguous() stays one call per sample, so that its results are freed off the clock.
        let batch = Self.batch(bytes: bytes)
        func batched(_ body: () throws -> Void) rethrows -> Double {
            try Stopwatch.seconds { for _ in 0..<batch { try body() } } / Double(batch)
        }
        // Interleaved, so drift in the machine's state hits both sides alike.
        for _ in 0..<repeats {
            copyTimes.append(try batched(copyOnce))
            memcpyTimes.append(batched(memcpyOnce))
        }
        // Allocating modes get one untimed call first too, as copy(from:) above and as every function
        // the NumPy/PyTorch peer script times: on a VM that hands free memory back to its host (free
        // page reporting), the first allocation after a pause can take 10-30x longer while the host
        // faults the memory back in, which is the VM's cost, not the copy's.
        func contiguousOnce() throws -> RawTensor { try view.copied(threads: threads) }
        _ = try contiguousOnce()
        for _ in 0..<repeats {
            contiguousTimes.append(try Self.secondsKeeping(contiguousOnce))
        }
        var serialTouch = [Double](), noHugePages = [Double](), freshMemcpy = [Double](), freshPages = [Double]()
        if allocationModes {
            // Every mode below gets fresh pages.
            let retainedBytesLimit = Storage.retainedBytesLimit
            Storage.retainedBytesLimit = 0
            Storage.releaseRetainedPages()
            defer { Storage.retainedBytesLimit = retainedBytesLimit }
            let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
            func serialTouchOnce() throws -> RawTensor {
                let fresh = try RawTensor(shape: view.shape, elementSize: elementSize, placement: .firstTouch)
                // One thread faults every page in, as a single-threaded allocator-and-copy would.
                var offset = 0
                while offset < fresh.storage.byteCount {
                    fresh.storage.baseAddress.storeBytes(of: 0, toByteOffset: offset, as: UInt8.self)
                    offset += pageSize
                }
                try fresh.copy(from: view, threads: threads)
                return fresh
            }
            func noHugePagesOnce() throws -> RawTensor { try view.copied(threads: threads, hugePages: false) }
            func freshMemcpyOnce() throws -> RawTensor {
                let fresh = try RawTensor(shape: view.shape, elementSize: elementSize, placement: .firstTouch)
                ParallelMemcpy.copy(from: source.storage.baseAddress, to: fresh.storage.baseAddress, byteCount: bytes, threads: plan.workers)
                return fresh
            }
            _ = try contiguousOnce()
            _ = try serialTouchOnce()
            _ = try noHugePagesOnce()
            _ = try freshMemcpyOnce()
            for _ in 0..<repeats {
                freshPages.append(try Self.secondsKeeping(contiguousOnce))
                serialTouch.append(try Self.secondsKeeping(serialTouchOnce))
                noHugePages.append(try Self.secondsKeeping(noHugePagesOnce))
                freshMemcpy.append(try Self.secondsKeeping(freshMemcpyOnce))
            }
        }
        if withLoop {
            for _ in 0..<repeats {
                loopTimes.append(batched { NaiveLoop.copy(view, into: destination) })
            }
        }
        let copyGbps = Self.gbps(bytes, median(copyTimes))
        let memcpyGbps = Self.gbps(bytes, median(memcpyTimes))
        let contiguousGbps = Self.gbps(bytes, median(contiguousTimes))
        return BenchResult(
            case: benchCase.name, bytes: bytes, seconds: median(copyTimes), gbps: copyGbps, memcpyGbps: memcpyGbps,
            ratio: copyGbps / memcpyGbps, contiguousSeconds: median(contiguousTimes), contiguousGbps: contiguousGbps,
            contiguousRatio: contiguousGbps / memcpyGbps, loopGbps: withLoop ? Self.gbps(bytes, median(loopTimes)) : nil,
            contiguousSerialTouchGbps: allocationModes ? Self.gbps(bytes, median(serialTouch)) : nil,
            contiguousNoHugePagesGbps: allocationModes ? Self.gbps(bytes, median(noHugePages)) : nil,
            contiguousFreshPagesGbps: allocationModes ? Self.gbps(bytes, median(freshPages)) : nil,
            freshMemcpyGbps: allocationModes ? Self.gbps(bytes, median(freshMemcpy)) : nil,
            kernel: plan.kernel.rawValue, threads: plan.workers, plan: plan.description)
    }
}

/// The copy a programmer writes without thinking about caches: one thread, the destination in order,
/// the source at whatever stride it has. The small suite compares against it.
enum NaiveLoop {
    static func copy(_ source: RawTensor, into destination: RawTensor) {
        switch source.elementSize {
        case 1: run(UInt8.self, source, destination)
        case 2: run(UInt16.self, source, destination)
        case 4: run(UInt32.self, source, destination)
        case 8: run(UInt64.self, source, destination)
        default: run(SIMD2<UInt64>.self, source, destination)
        }
    }

    static func run<T>(_: T.Type, _ source: RawTensor, _ destination: RawTensor) {
        let s = source.storage.baseAddress.assumingMemoryBound(to: T.self) + source.layout.offset
        let d = destination.storage.baseAddress.assumingMemoryBound(to: T.self) + destination.layout.offset
        let shape = source.shape, strides = source.strides
        let rank = shape.count
        let inner = shape[rank - 1], innerStride = strides[rank - 1]
        let rows = shape.reduce(1, *) / Swift.max(inner, 1)
        var index = [Int](repeating: 0, count: rank)
        var from = 0, to = 0
        for _ in 0..<rows {
            for i in 0..<inner { d[to + i] = s[from + i * innerStride] }
            to += inner
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                from += strides[axis]
                if index[axis] < shape[axis] { break }
                from -= strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}
