import Dispatch
import Synchronization

/// Process-wide parallelism settings.
public enum Parallelism {
    private static let storedThreadCount = Atomic<Int>(0)

    /// Worker threads a copy uses when the call does not say; defaults to the active core count.
    public static var defaultThreadCount: Int {
        get {
            let stored = storedThreadCount.load(ordering: .relaxed)
            return stored > 0 ? stored : ProcessInfoLite.activeProcessorCount
        }
        set { storedThreadCount.store(Swift.max(1, newValue), ordering: .relaxed) }
    }
}

/// On a machine with several NUMA nodes: the node holding each chunk's destination pages, the node
/// each worker runs on, and the distances between nodes.
struct NodeAffinity {
    var nodeCount: Int
    var chunkNodes: [Int]
    var distances: [[Int]]
    var workerNode: (Int) -> Int
}

/// Work split into chunks that may run concurrently, each exactly once (chunks write disjoint
/// destination elements). A struct of up to three words (a plan pointer and two base pointers) is
/// stored inline when the worker pool publishes it, so running it allocates nothing; a closure
/// cannot be published without a heap-allocated escaping thunk.
protocol ChunkedWork: SendableMetatype {
    func run(chunk: Int, worker: Int)
}

/// A closure as `ChunkedWork`, for callers where one allocation per run does not matter.
struct ClosureWork: ChunkedWork {
    let body: (_ chunk: Int, _ worker: Int) -> Void
    func run(chunk: Int, worker: Int) { body(chunk, worker) }
}

/// Runs chunks on worker slots — the parked Dispatch workers of `WorkerPool`, or
/// `DispatchQueue.concurrentPerform` when the pool is busy; each worker claims the next chunk from a
/// shared atomic cursor until none is left, so fast workers take more. With a
/// `NodeAffinity`, chunks are grouped by node, each worker drains its own node's chunks first and
/// then steals from the other nodes, nearest first.
enum Executor {
    static func run(chunks: Int, workers: Int, affinity: NodeAffinity? = nil, _ body: (_ chunk: Int, _ worker: Int) -> Void) {
        if workers <= 1 || chunks <= 1 {
            for chunk in 0..<chunks { body(chunk, 0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            run(chunks: chunks, workers: workers, affinity: affinity, work: ClosureWork(body: body))
        }
    }

    static func run<Work: ChunkedWork>(chunks: Int, workers: Int, affinity: NodeAffinity? = nil, work: Work) {
        if workers <= 1 || chunks <= 1 {
            for chunk in 0..<chunks { work.run(chunk: chunk, worker: 0) }
            return
        }
        if let affinity, affinity.nodeCount > 1 {
            runByNode(chunks: chunks, workers: workers, affinity: affinity, work)
            return
        }
        let slots = Swift.min(workers, chunks)
        if WorkerPool.shared.run(chunks: chunks, workers: slots, work) { return }
        let cursor = Atomic<Int>(0)
        nonisolated(unsafe) let work = work
        DispatchQueue.concurrentPerform(iterations: slots) { worker in
            while true {
                let chunk = cursor.add(1, ordering: .relaxed).oldValue
                if chunk >= chunks { break }
                work.run(chunk: chunk, worker: worker)
            }
        }
    }

    private static func runByNode<Work: ChunkedWork>(chunks: Int, workers: Int, affinity: NodeAffinity, _ work: Work) {
        let nodes = affinity.nodeCount
        // Chunks grouped by node (a counting sort): node n owns order[start[n] ..< start[n + 1]].
        var start = [Int](repeating: 0, count: nodes + 1)
        for node in affinity.chunkNodes { start[node + 1] += 1 }
        for n in 0..<nodes { start[n + 1] += start[n] }
        var order = [Int](repeating: 0, count: chunks)
        var fill = start
        for (chunk, node) in affinity.chunkNodes.enumerated() {
            order[fill[node]] = chunk
            fill[node] += 1
        }
        let cursors = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: nodes)
        for n in 0..<nodes { (cursors + n).initialize(to: Atomic(0)) }
        defer {
            (cursors).deinitialize(count: nodes)
            cursors.deallocate()
        }
        do {
            nonisolated(unsafe) let work = work
            nonisolated(unsafe) let cursors = cursors
            let (order, start, distances, workerNode) = (order, start, affinity.distances, affinity.workerNode)
            nonisolated(unsafe) let nodeOf = workerNode
            DispatchQueue.concurrentPerform(iterations: Swift.min(workers, chunks)) { worker in
                let home = nodeOf(worker)
                let visit = (0..<nodes).sorted { (distances[home][$0], $0 == home ? 0 : 1, $0) < (distances[home][$1], $1 == home ? 0 : 1, $1) }
                for node in visit {
                    let count = start[node + 1] - start[node]
                    while true {
                        let k = cursors[node].add(1, ordering: .relaxed).oldValue
                        if k >= count { break }
                        work.run(chunk: order[start[node] + k], worker: worker)
                    }
                }
            }
        }
    }
}
