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

/// Runs chunks on worker slots of `DispatchQueue.concurrentPerform`; each worker claims the next
/// chunk from a shared atomic cursor until none is left, so fast workers take more. With a
/// `NodeAffinity`, chunks are grouped by node, each worker drains its own node's chunks first and
/// then steals from the other nodes, nearest first.
enum Executor {
    static func run(chunks: Int, workers: Int, affinity: NodeAffinity? = nil, _ body: (_ chunk: Int, _ worker: Int) -> Void) {
        if workers <= 1 || chunks <= 1 {
            for chunk in 0..<chunks { body(chunk, 0) }
            return
        }
        if let affinity, affinity.nodeCount > 1 {
            runByNode(chunks: chunks, workers: workers, affinity: affinity, body)
            return
        }
        let cursor = Atomic<Int>(0)
        withoutActuallyEscaping(body) { body in
            // Chunks write disjoint destination elements, so running `body` concurrently is safe.
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: Swift.min(workers, chunks)) { worker in
                while true {
                    let chunk = cursor.add(1, ordering: .relaxed).oldValue
                    if chunk >= chunks { break }
                    body(chunk, worker)
                }
            }
        }
    }

    private static func runByNode(chunks: Int, workers: Int, affinity: NodeAffinity, _ body: (Int, Int) -> Void) {
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
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let body = body
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
                        body(order[start[node] + k], worker)
                    }
                }
            }
        }
    }
}
