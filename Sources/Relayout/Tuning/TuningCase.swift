#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A copy the tuner times: a row-major source of `shape`, viewed through NumPy's
/// `transpose(permutation)` and, when `step` > 1, `[..., ::step]`, made contiguous.
public struct TuningCase: Hashable, Sendable {
    public var elementSize: Int
    public var shape: [Int]
    public var permutation: [Int]
    public var step: Int

    public init(elementSize: Int, shape: [Int], permutation: [Int], step: Int = 1) {
        self.elementSize = elementSize
        self.shape = shape
        self.permutation = permutation
        self.step = step
    }

    /// The case with its first dimension scaled so the source holds about `bytes`.
    public static func scaled(elementSize: Int, shape: [Int], permutation: [Int], step: Int = 1, bytes: Int) -> TuningCase {
        var s = shape
        let rest = s.dropFirst().reduce(1, *) * elementSize
        s[0] = Swift.max(1, bytes / Swift.max(rest, 1))
        return TuningCase(elementSize: elementSize, shape: s, permutation: permutation, step: step)
    }

    public var name: String {
        "\(elementSize)B:\(shape.map(String.init).joined(separator: "x")):\(permutation.map(String.init).joined(separator: ","))" + (step > 1 ? ":step\(step)" : "")
    }

    /// Source and destination layouts.
    public func layouts() throws -> (source: Layout, destination: Layout) {
        var view = try Layout.rowMajor(shape).permuted(permutation)
        if step > 1 { view = try view.sliced(axis: view.rank - 1, step: step) }
        return (view, try Layout.rowMajor(view.shape))
    }

    /// Bytes the copy writes.
    public var payloadBytes: Int { ((try? layouts().destination.count) ?? 0) * elementSize }
}

/// One timing: medians of the copy and of memcpy of the same bytes on the same threads.
public struct TuningSample: Equatable, Sendable {
    public var bytes: Int
    public var copySeconds: Double
    public var memcpySeconds: Double

    public init(bytes: Int, copySeconds: Double, memcpySeconds: Double) {
        self.bytes = bytes
        self.copySeconds = copySeconds
        self.memcpySeconds = memcpySeconds
    }

    /// Read plus written, GB/s.
    public var gbps: Double { 2 * Double(bytes) / copySeconds / 1e9 }
    public var ratio: Double { memcpySeconds / copySeconds }
}

/// Times a case under a tuning. The tuner's choices depend only on what this returns, so tests
/// inject scripted timings (a fake clock) and production uses ``MemoryTuningMeasurer``.
public protocol TuningMeasurer {
    mutating func measure(_ tuningCase: TuningCase, tuning: CopyTuning, threads: Int) throws -> TuningSample
    /// As `measure` for each of `tunings`, into fresh memory allocated by each copy (what
    /// `contiguous()` does), against memcpy into fresh memory of the same size. The tunings take
    /// turns run by run: how fast fresh pages come depends on the machine's free memory at the time
    /// (a VM's host may have taken it back), and taking turns spreads that over all of them alike.
    mutating func measureFresh(_ tuningCase: TuningCase, tunings: [CopyTuning], threads: Int) throws -> [TuningSample]
}

/// Real timings: buffers allocated and touched once per case, copy and memcpy interleaved, medians.
public struct MemoryTuningMeasurer: TuningMeasurer {
    public var repeats: Int
    private var current: (TuningCase, RawTensor, RawTensor, Layout)?

    public init(repeats: Int) { self.repeats = repeats }

    public mutating func measure(_ tuningCase: TuningCase, tuning: CopyTuning, threads: Int) throws -> TuningSample {
        try prepare(tuningCase)
        let (_, source, destination, sourceLayout) = current!
        let plan = try CopyPlan(source: sourceLayout, destination: destination.layout, elementSize: tuningCase.elementSize, tuning: tuning, threads: threads)
        let bytes = destination.count * tuningCase.elementSize
        let s = UnsafeRawPointer(source.storage.baseAddress), d = destination.storage.baseAddress
        plan.execute(source: s, destination: d)
        var copies = [Double](), copiesOfMemcpy = [Double]()
        for _ in 0..<repeats {
            copies.append(Stopwatch.seconds { plan.execute(source: s, destination: d) })
            copiesOfMemcpy.append(Stopwatch.seconds { ParallelMemcpy.copy(from: s, to: d, byteCount: bytes, threads: threads) })
        }
        return TuningSample(bytes: bytes, copySeconds: median(copies), memcpySeconds: median(copiesOfMemcpy))
    }

    public mutating func measureFresh(_ tuningCase: TuningCase, tunings: [CopyTuning], threads: Int) throws -> [TuningSample] {
        try prepare(tuningCase)
        let (_, source, destination, sourceLayout) = current!
        let plans = try tunings.map { tuning -> CopyPlan in
            var fresh = tuning
            fresh.chunkBytes = Swift.max(fresh.chunkBytes, fresh.freshChunkBytes)
            return try CopyPlan(source: sourceLayout, destination: destination.layout, elementSize: tuningCase.elementSize, tuning: fresh, threads: threads)
        }
        let bytes = destination.count * tuningCase.elementSize
        let s = UnsafeRawPointer(source.storage.baseAddress)
        // Allocation and copy are timed; handing the pages back is not.
        func intoFreshMemory(_ body: (UnsafeMutableRawPointer) -> Void) throws -> Double {
            var storage: Storage?
            let seconds = try Stopwatch.seconds {
                storage = try Storage(byteCount: bytes, placement: RawTensor.resultPlacement(bytes: bytes))
                body(storage!.baseAddress)
            }
            withExtendedLifetime(storage) {}
            return seconds
        }
        var copies = [[Double]](repeating: [], count: plans.count), copiesOfMemcpy = [Double]()
        for run in -1..<repeats {
            for (k, plan) in plans.enumerated() {
                let seconds = try intoFreshMemory { plan.execute(source: s, destination: $0, freshDestination: true) }
                if run >= 0 { copies[k].append(seconds) }
            }
            let seconds = try intoFreshMemory { ParallelMemcpy.copy(from: s, to: $0, byteCount: bytes, threads: threads) }
            if run >= 0 { copiesOfMemcpy.append(seconds) }
        }
        let memcpy = median(copiesOfMemcpy)
        return copies.map { TuningSample(bytes: bytes, copySeconds: median($0), memcpySeconds: memcpy) }
    }

    /// Allocates and fills the case's source, and a touched destination, unless they are the last case's.
    private mutating func prepare(_ tuningCase: TuningCase) throws {
        if current?.0 != tuningCase {
            current = nil
            let (sourceLayout, destinationLayout) = try tuningCase.layouts()
            let source = try RawTensor(shape: tuningCase.shape, elementSize: tuningCase.elementSize)
            memset(source.storage.baseAddress, 0x5A, source.storage.byteCount)
            let destination = try RawTensor(storage: Storage(byteCount: destinationLayout.count * tuningCase.elementSize), layout: destinationLayout, elementSize: tuningCase.elementSize)
            memset(destination.storage.baseAddress, 0, destination.storage.byteCount)
            current = (tuningCase, source, destination, sourceLayout)
        }
    }
}
