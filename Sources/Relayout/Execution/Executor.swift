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

/// Runs chunks on worker slots of `DispatchQueue.concurrentPerform`; each worker claims the next
/// chunk from a shared atomic cursor until none is left, so fast workers take more.
enum Executor {
    static func run(chunks: Int, workers: Int, _ body: (Int) -> Void) {
        if workers <= 1 || chunks <= 1 {
            for chunk in 0..<chunks { body(chunk) }
            return
        }
        let cursor = Atomic<Int>(0)
        withoutActuallyEscaping(body) { body in
            // Chunks write disjoint destination elements, so running `body` concurrently is safe.
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: Swift.min(workers, chunks)) { _ in
                while true {
                    let chunk = cursor.add(1, ordering: .relaxed).oldValue
                    if chunk >= chunks { break }
                    body(chunk)
                }
            }
        }
    }
}
