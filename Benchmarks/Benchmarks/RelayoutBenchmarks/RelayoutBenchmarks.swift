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
    // Throughput: a ratio to memcpy measured inside each benchmark (machine-independent, noisy).
    let throughput = Benchmark.Configuration(
        metrics: [.wallClock, ratioToMemcpy],
        warmupIterations: 1,
        maxDuration: .seconds(1),
        maxIterations: 10,
        // Ratios wander ±20 % on a shared VM: fail only on a change of more than 70 % (package-benchmark fails on large improvements too: re-record with --update).
        thresholds: [ratioToMemcpy: .init(relative: [.p90: 70.0], absolute: [.p90: 100_000])]
    )
    // Allocation counts: exact, the same on every machine.
    func allocations(slack: Int = 0, iterations: Int = 20) -> Benchmark.Configuration {
        .init(metrics: [.mallocCountTotal], warmupIterations: 2, maxDuration: .seconds(2), maxIterations: iterations,
              thresholds: [.mallocCountTotal: .init(absolute: [.p90: slack])])
    }

    // Names hold no spaces or slashes: package-benchmark looks stored thresholds up by the raw name.
    // One benchmark per kernel family, 32 MiB-class cases.
    let kernels: [(String, CopyCase)] = [
        ("bulk_f4_8Mi", CopyCase(elementSize: 4, shape: [8 << 20], permutation: [0])),
        ("bulk_short_runs_f4_16x75x96x80_2,1,0,3", CopyCase(elementSize: 4, shape: [16, 75, 96, 80], permutation: [2, 1, 0, 3])),
        ("transpose_f4_2048x4096", CopyCase(elementSize: 4, shape: [2048, 4096], permutation: [1, 0])),
        ("transpose_u1_4096x4096", CopyCase(elementSize: 1, shape: [4096, 4096], permutation: [1, 0])),
        ("transpose_f8_2049x2047", CopyCase(elementSize: 8, shape: [2049, 2047], permutation: [1, 0])),
        ("transpose_f4_NHWC-NCHW_64x224x224x3", CopyCase(elementSize: 4, shape: [64, 224, 224, 3], permutation: [0, 3, 1, 2])),
        ("transpose_f4_6-D_4x15x32x15x15x32", CopyCase(elementSize: 4, shape: [4, 15, 32, 15, 15, 32], permutation: [1, 4, 0, 5, 3, 2])),
        ("gather_f4_stepped_slice", CopyCase(elementSize: 4, shape: [4096, 4096], permutation: [0, 1], step: 2)),
        ("fill_f4_broadcast_rows", CopyCase(elementSize: 4, shape: [4096, 2048], permutation: [1, 0], broadcast: true)),
    ]
    for (name, c) in kernels {
        Benchmark("ratio_plan.execute_\(name)", configuration: throughput) { benchmark in
            for _ in benchmark.scaledIterations { c.executePlan() }
            benchmark.measurement(ratioToMemcpy, c.ratioPermille())
        }
    }
    let transpose = kernels[2].1
    Benchmark("ratio_copy(from:)_transpose_f4_2048x4096", configuration: throughput) { benchmark in
        for _ in benchmark.scaledIterations { try transpose.destination.copy(from: transpose.view) }
        benchmark.measurement(ratioToMemcpy, transpose.ratioPermille())
    }

    // Allocations of each public entry point.
    let small = CopyCase(elementSize: 4, shape: [128, 128], permutation: [1, 0])
    Benchmark("alloc_plan.execute_reused_inline_f4_128x128", configuration: allocations(iterations: 200)) { benchmark in
        for _ in benchmark.scaledIterations { small.executePlan() }
    }
    // Parallel runs wake the parked workers of the executor's pool: nothing to allocate either.
    Benchmark("alloc_plan.execute_reused_parallel_f4_2048x4096", configuration: allocations()) { benchmark in
        for _ in benchmark.scaledIterations { transpose.executePlan() }
    }
    Benchmark("alloc_copy(from:)_f4_128x128", configuration: allocations(iterations: 200)) { benchmark in
        for _ in benchmark.scaledIterations { try small.destination.copy(from: small.view) }
    }
    // contiguous() of a view seen before: the plan and the result's layout come from the plan
    // cache, so what it allocates is the result's storage — its object and, for small results,
    // its heap bytes (2); large results map fresh pages, which malloc does not count (1).
    Benchmark("alloc_contiguous()_f4_128x128", configuration: allocations(iterations: 200)) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try small.view.contiguous()) }
    }
    Benchmark("alloc_contiguous()_f4_2048x4096", configuration: allocations()) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try transpose.view.contiguous()) }
    }
    // Collation: 64 samples of 224x224x3 UInt8 into a reused Float32 NCHW batch, normalised.
    let images = (0..<64).map { k -> RawTensor in
        let t = try! RawTensor(shape: [224, 224, 3], elementSize: 1)
        memset(t.storage.baseAddress, Int32(k), t.storage.byteCount)
        return t
    }
    let collation = try! Collation(sampleShape: [224, 224, 3], inputElementSize: 1, permutation: [2, 0, 1], output: .float32,
                                   scale: [0.0171, 0.0175, 0.0174], shift: [-2.12, -2.04, -1.80])
    let batch = try! collation.makeBatch(count: images.count)
    let collationTraffic = images.count * 224 * 224 * 3 * 5
    let trafficSource = try! Storage(byteCount: collationTraffic / 2), trafficDestination = try! Storage(byteCount: collationTraffic / 2)
    memset(trafficSource.baseAddress, 1, collationTraffic / 2)
    memset(trafficDestination.baseAddress, 0, collationTraffic / 2)
    Benchmark("ratio_collate_64x224x224x3_u1_to_f4_NCHW", configuration: throughput) { benchmark in
        for _ in benchmark.scaledIterations { try collation.collate(images, into: batch) }
        var ratios = [Double]()
        for _ in 0..<5 {
            let collate = try Stopwatch.seconds { try collation.collate(images, into: batch) }
            let memcpy = Stopwatch.seconds {
                ParallelMemcpy.copy(from: trafficSource.baseAddress, to: trafficDestination.baseAddress, byteCount: collationTraffic / 2,
                                    threads: Parallelism.defaultThreadCount)
            }
            ratios.append(memcpy / collate)
        }
        benchmark.measurement(ratioToMemcpy, Int(median(ratios) * 1000))
    }
    Benchmark("alloc_collate_64x224x224x3_u1_to_f4_NCHW", configuration: allocations(slack: 4)) { benchmark in
        for _ in benchmark.scaledIterations { try collation.collate(images, into: batch) }
    }

    let state = (0..<64).map { _ in try! RawTensor(shape: [64, 1024], elementSize: 4) }
    Benchmark("alloc_deepCopy_64_tensors_with_a_memo", configuration: allocations()) { benchmark in
        for _ in benchmark.scaledIterations {
            let memo = DeepCopyMemo()
            blackHole(try state.map { try $0.deepCopy(memo: memo) })
        }
    }
}
