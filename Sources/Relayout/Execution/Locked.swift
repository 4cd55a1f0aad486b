#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a `pthread_mutex_t`: the library's lock for shared state (caches, the active
/// tuning, kept mappings).
///
/// Why not `Synchronization.Mutex`: on Linux its contended path takes the lock through a futex in
/// the Swift runtime, which ThreadSanitizer does not see, so two threads that queued on it were
/// reported as racing on the value it guards (`swift test --sanitize=thread`, about one run in
/// two on a 2-core VM, `RetainedPagesTests`). ThreadSanitizer intercepts pthread mutexes, and an
/// uncontended lock costs the same.
final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` on the value with the lock held.
    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
