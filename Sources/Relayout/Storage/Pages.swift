#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Faulting in fresh pages ahead of the stores that fill them.
enum Pages {
    /// `MADV_POPULATE_WRITE` (Linux 5.14); older C headers do not name it.
    static let populateWriteAdvice: Int32 = 23
    fileprivate static let populateWorks = Atomic<Bool>(true)

    /// Has the kernel fault in, writable, the pages covering `byteCount` bytes at `address`, without
    /// changing their contents; `workers` threads each take a contiguous share (in 2 MiB units, so
    /// no two fault the same huge page). A hint: on kernels without `MADV_POPULATE_WRITE` it does
    /// nothing (after the first refusal it stops asking).
    ///
    /// Why: a transpose writes a fresh destination in tile order, a few lines of many pages at a
    /// time, so each page is zeroed by the kernel at its first store and its zeroed lines are gone
    /// from the caches before the tile pass comes back to write them: the zeroing costs a full
    /// extra write to memory. Faulting the pages in first, in sequence, measured faster
    /// (docs/performance.md, "Fresh destinations").
    static func populateForWriting(_ address: UnsafeMutableRawPointer, byteCount: Int, workers: Int) {
        #if os(Linux)
        guard byteCount > 0, populateWorks.load(ordering: .relaxed) else { return }
        let unit = Storage.hugePageSize
        let (start, end) = pageBounds(address, byteCount: byteCount)
        let units = (end - start + unit - 1) / unit
        let shares = Swift.max(1, Swift.min(workers, units))
        let share = (units + shares - 1) / shares * unit
        Executor.run(chunks: shares, workers: shares, work: Populate(start: start, end: end, share: share))
        #endif
    }

    /// The page-aligned addresses `[start, end)` of the pages covering `byteCount` bytes at `address`.
    static func pageBounds(_ address: UnsafeRawPointer, byteCount: Int) -> (start: Int, end: Int) {
        let page = NUMA.pageSize
        return (Int(bitPattern: address) & ~(page - 1), (Int(bitPattern: address) + byteCount + page - 1) & ~(page - 1))
    }

    /// Has the kernel fault in, writable, the pages of `[from, to)` (page-aligned addresses). False where
    /// the kernel cannot (no `MADV_POPULATE_WRITE`: then the stores fault the pages in as they come).
    @discardableResult
    static func populate(from: Int, to: Int) -> Bool {
        #if os(Linux)
        guard from < to else { return true }
        guard populateWorks.load(ordering: .relaxed) else { return false }
        if madvise(UnsafeMutableRawPointer(bitPattern: from), to - from, populateWriteAdvice) != 0, errno == EINVAL {
            populateWorks.store(false, ordering: .relaxed)
            return false
        }
        return true
        #else
        return false
        #endif
    }

    private struct Populate: ChunkedWork {
        let start: Int, end: Int, share: Int
        func run(chunk: Int, worker: Int) {
            let from = start + chunk * share
            Pages.populate(from: from, to: Swift.min(end, from + share))
        }
    }
}
