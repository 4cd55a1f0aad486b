import Dispatch
import Synchronization

/// Parked Dispatch workers that run one chunked job at a time without allocating.
///
/// `DispatchQueue.concurrentPerform` allocates on every call (its apply record and the continuations
/// it hands to other threads: 4 mallocs per call measured on Linux), so a reused plan could never
/// execute allocation-free through it. Here each worker is one long-running block on its own serial
/// Dispatch queue, parked on a `DispatchSemaphore`. A job is published in the pool's fields, the
/// workers are woken, and the caller starts claiming chunks at once as slot 0. A worker *joins* the
/// job only while it is open; when the caller runs out of chunks it closes the job and waits only for
/// the workers that joined, so a small job finishes on the caller's thread without waiting for a
/// wake-up (tens of microseconds here). A late worker finds the job closed, or joins whichever job is
/// open then, which is equally correct. Nothing in that cycle allocates as long as the work fits an
/// existential's inline buffer. Workers are started the first time a job needs them.
///
/// The chunk cursor lives in the pool, not in a closure capture, because captured atomics and the
/// closures that capture them are boxed on the heap.
///
/// One job runs at a time: a caller that finds the pool busy (another thread's copy, or a copy
/// started from inside a job) gets `false` from `run` and falls back to `concurrentPerform`.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    /// Upper bound on parked workers; requests beyond it use `concurrentPerform`.
    static let maximumWorkers = 256

    /// `state`: the number of workers inside the current job, plus `closed` once the caller has
    /// stopped admitting them.
    private static let closed = 1 << 62

    private let busy = Atomic<Bool>(false)
    private let state = Atomic<Int>(WorkerPool.closed)
    private let cursor = Atomic<Int>(0)
    private let finished = DispatchSemaphore(value: 0)
    /// Written only by the caller that won `busy`, while the job is closed and no worker is inside.
    private var workers: [Worker] = []
    private var chunks = 0
    private var slots = 0
    private var job: any ChunkedWork = NoWork()

    private struct NoWork: ChunkedWork {
        func run(chunk: Int, worker: Int) {}
    }

    private final class Worker: @unchecked Sendable {
        let wake = DispatchSemaphore(value: 0)
        let queue: DispatchQueue
        init(index: Int) { queue = DispatchQueue(label: "relayout.worker.\(index)") }
    }

    /// Runs `work` once for every chunk in `0..<chunks` on up to `workers` slots (slot 0 is the
    /// caller's thread; each slot claims the next chunk until none is left) and returns when all are
    /// done. Returns `false` without running anything when the pool is busy or `workers` is out of
    /// its range.
    func run<Work: ChunkedWork>(chunks: Int, workers slots: Int, _ work: Work) -> Bool {
        guard slots >= 2, slots - 1 <= Self.maximumWorkers else { return false }
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        while workers.count < slots - 1 { start(Worker(index: workers.count + 1), slot: workers.count + 1) }
        job = work
        self.chunks = chunks
        self.slots = slots
        cursor.store(0, ordering: .relaxed)
        state.store(0, ordering: .releasing)
        for w in 0..<(slots - 1) { workers[w].wake.signal() }
        drain(slot: 0)
        let inside = state.add(Self.closed, ordering: .acquiringAndReleasing).oldValue
        if inside > 0 { finished.wait() }
        job = NoWork()
        return true
    }

    private func drain(slot: Int) {
        while true {
            let chunk = cursor.add(1, ordering: .relaxed).oldValue
            if chunk >= chunks { return }
            job.run(chunk: chunk, worker: slot)
        }
    }

    /// Enters the open job, if there is one; the job's fields may be read only after this succeeds.
    private func join() -> Bool {
        var current = state.load(ordering: .relaxed)
        while current & Self.closed == 0 {
            let (exchanged, found) = state.compareExchange(expected: current, desired: current + 1, ordering: .acquiring)
            if exchanged { return true }
            current = found
        }
        return false
    }

    private func leave() {
        if state.subtract(1, ordering: .acquiringAndReleasing).newValue == Self.closed {
            finished.signal()
        }
    }

    private func start(_ worker: Worker, slot: Int) {
        workers.append(worker)
        worker.queue.async { [unowned self] in
            while true {
                worker.wake.wait()
                guard self.join() else { continue }
                if slot < self.slots { self.drain(slot: slot) }
                self.leave()
            }
        }
    }
}
