import Benchmark
import Relayout

#if canImport(Glibc)
import Glibc
#endif

/// Copy bandwidth over memcpy bandwidth of the same bytes on the same threads, measured inside the
/// benchmark, ×1000 (metrics are integers). It holds on any machine, unlike absolute times.
let ratioToMemcpy = BenchmarkMetric.custom("ratioToMemcpyPermille", polarity: .prefersLarger, useScalingFactor: false)

/// A source view and a destination, allocated and touched once when the suite registers.
struct CopyCase: @unchecked Sendable {
    let view: RawTensor
    let destination: RawTensor
    let plan: CopyPlan

    init(elementSize: Int, shape: [Int], permutation: [Int], step: Int = 1, broadcast: Bool = false) {
        var source = try! RawTensor(shape: shape, elementSize: elementSize)
        memset(source.storage.baseAddress, 0x5A, source.storage.byteCount)
        if broadcast { source = try! source.sliced(axis: 0, start: 0, stop: 1).expanded(to: shape) }
        var view = try! source.permuted(permutation)
        if step > 1 { view = try! view.sliced(axis: view.rank - 1, step: step) }
        self.view = view
        destination = try! RawTensor(shape: view.shape, elementSize: elementSize)
        memset(destination.storage.baseAddress, 0, destination.storage.byteCount)
        plan = try! CopyPlan(source: view.layout, destination: destination.layout, elementSize: elementSize)
    }

    var bytes: Int { destination.count * destination.elementSize }

    func executePlan() {
        plan.execute(source: view.storage.baseAddress, destination: destination.storage.baseAddress)
    }

    /// Median over `runs` of memcpy time / plan time, ×1000.
    func ratioPermille(runs: Int = 5) -> Int {
        var ratios = [Double]()
        for _ in 0..<runs {
            let copy = Stopwatch.seconds { executePlan() }
            let memcpy = Stopwatch.seconds {
                ParallelMemcpy.copy(from: view.storage.baseAddress, to: destination.storage.baseAddress,
                                    byteCount: bytes, threads: plan.workers)
            }
            ratios.append(memcpy / copy)
        }
        return Int(median(ratios) * 1000)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, ratioToMemcpy],
        warmupIterations: 1,
        maxDuration: .seconds(1),
        maxIterations: 20,
        thresholds: [
            // Allocation counts are exact: any increase fails.
            .mallocCountTotal: .init(absolute: [.p90: 0]),
            // Ratios to memcpy are noisy (±20 % on a shared VM): fail only on a drop of more than a third.
            ratioToMemcpy: .init(relative: [.p90: 35.0], absolute: [.p90: 300]),
        ]
    )

    // One benchmark per kernel family and public entry point; 32 MiB-class cases unless noted.
    let kernels: [(String, CopyCase)] = [
        ("bulk f4 8Mi (contiguous runs)", CopyCase(elementSize: 4, shape: [8 << 20], permutation: [0])),
        ("bulk-runs f4 96x75x96x80 2,1,0,3 (short runs)", CopyCase(elementSize: 4, shape: [16, 75, 96, 80], permutation: [2, 1, 0, 3])),
        ("transpose f4 2048x4096", CopyCase(elementSize: 4, shape: [2048, 4096], permutation: [1, 0])),
        ("transpose u1 4096x4096", CopyCase(elementSize: 1, shape: [4096, 4096], permutation: [1, 0])),
        ("transpose f8 2049x2047", CopyCase(elementSize: 8, shape: [2049, 2047], permutation: [1, 0])),
        ("transpose f4 NHWC->NCHW 64x224x224x3", CopyCase(elementSize: 4, shape: [64, 224, 224, 3], permutation: [0, 3, 1, 2])),
        ("transpose f4 6-D 15x15x32x15x15x32", CopyCase(elementSize: 4, shape: [15, 15, 32, 15, 15, 32], permutation: [1, 4, 0, 5, 3, 2])),
        ("gather f4 stepped slice", CopyCase(elementSize: 4, shape: [4096, 4096], permutation: [0, 1], step: 2)),
        ("fill f4 broadcast rows", CopyCase(elementSize: 4, shape: [4096, 2048], permutation: [1, 0], broadcast: true)),
    ]
    for (name, c) in kernels {
        Benchmark("plan.execute \(name)") { benchmark in
            for _ in benchmark.scaledIterations { c.executePlan() }
            benchmark.measurement(ratioToMemcpy, c.ratioPermille())
        }
    }

    let transpose = kernels[2].1
    Benchmark("copy(from:) transpose f4 2048x4096") { benchmark in
        for _ in benchmark.scaledIterations { try transpose.destination.copy(from: transpose.view) }
        benchmark.measurement(ratioToMemcpy, transpose.ratioPermille())
    }
    Benchmark("contiguous() transpose f4 2048x4096 (allocation included)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try transpose.view.contiguous()) }
    }
    let small = CopyCase(elementSize: 4, shape: [128, 128], permutation: [1, 0])
    Benchmark("contiguous() transpose f4 128x128 (allocation included)", configuration: .init(maxIterations: 1000)) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try small.view.contiguous()) }
    }
    Benchmark("plan.execute reused, small f4 128x128 (no allocation)", configuration: .init(maxIterations: 1000)) { benchmark in
        for _ in benchmark.scaledIterations { small.executePlan() }
    }

    // deepCopy of a collection of views of one storage, with a memo.
    let state = (0..<64).map { _ in try! RawTensor(shape: [64, 1024], elementSize: 4) }
    Benchmark("deepCopy 64 tensors of 256 KiB with a memo") { benchmark in
        for _ in benchmark.scaledIterations {
            let memo = DeepCopyMemo()
            blackHole(try state.map { try $0.deepCopy(memo: memo) })
        }
    }
}
