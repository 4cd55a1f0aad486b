#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// Huge-page mappings of freed results, kept for the next result of the same size.
///
/// Why: a fresh page must be zeroed by the kernel before a copy can write it, and on the machines
/// measured that costs as much as the copy itself (211 MB: 17-20 ms to fault in on two threads, a
/// transpose into touched memory 9-20 ms). A program that makes results of the same size again and
/// again — a training step's `permute().contiguous()`, a loader's batches — gets back pages its last
/// result already faulted in, as caching allocators (PyTorch's for GPUs, jemalloc's dirty pages) do.
///
/// Only results that a copy overwrites completely come from here (``Storage/forOverwriting``); a
/// storage asked for directly always gets fresh pages that read as zero. At most
/// ``Storage/retainedBytesLimit`` bytes are kept (oldest handed back first), and none for longer than
/// ``decaySeconds``: a program that stops making results gets its memory back.
enum RetainedMappings {
    /// A mapping as `Storage` owns it: its whole extent and its aligned, granule-rounded data part.
    /// Addresses as integers, so that mappings pass between threads (`Sendable`).
    struct Mapping: Sendable {
        let base: Int
        let length: Int
        let data: Int
        let dataLength: Int
        /// When it was kept (`DispatchTime` nanoseconds); 0 while in use.
        var keptAt: UInt64 = 0

        init(base: UnsafeMutableRawPointer, length: Int, data: UnsafeMutableRawPointer, dataLength: Int) {
            (self.base, self.length, self.data, self.dataLength) = (Int(bitPattern: base), length, Int(bitPattern: data), dataLength)
        }

        var dataAddress: UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: data)! }

        func unmap() { munmap(UnsafeMutableRawPointer(bitPattern: base), length) }
    }

    private struct Kept {
        var mappings: [Mapping] = []
        var bytes = 0
    }

    private static let kept = Locked(Kept())
    /// Most mappings kept at once, whatever their size: a lookup scans them all.
    static let maximumCount = 8
    static let limit = Atomic<Int>(defaultLimit())
    /// Kept mappings older than this are handed back (as jemalloc's default dirty-page decay).
    static let decaySeconds = 10
    /// Whether a decay sweep is scheduled: at most one at a time, so that freeing results in a loop
    /// schedules one every `decaySeconds`, not one per result.
    private static let sweepScheduled = Atomic<Bool>(false)

    /// 1/8 of the machine's memory, at most 1 GiB; `RELAYOUT_RETAIN_BYTES` overrides it (0: keep none).
    static func defaultLimit() -> Int {
        if let text = getenv("RELAYOUT_RETAIN_BYTES").map({ String(cString: $0) }), let bytes = Int(text), bytes >= 0 {
            return bytes
        }
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0 else { return 0 }
        return Swift.min(1 << 30, pages * pageSize / 8)
    }

    /// The most recently kept mapping whose data part is `dataLength` bytes, taken out; nil if none.
    static func take(dataLength: Int) -> Mapping? {
        kept.withLock { kept in
            guard let index = kept.mappings.lastIndex(where: { $0.dataLength == dataLength }) else { return nil }
            kept.bytes -= dataLength
            return kept.mappings.remove(at: index)
        }
    }

    /// Keeps `mapping` for a later result, or unmaps it when it does not fit under the limit; unmaps
    /// the oldest kept mappings to make room.
    static func keepOrUnmap(_ mapping: Mapping) {
        let limit = self.limit.load(ordering: .relaxed)
        guard mapping.dataLength <= limit else {
            mapping.unmap()
            return
        }
        var mapping = mapping
        let evicted: [Mapping] = kept.withLock { kept in
            // Stamped under the lock, so that a sweep that reads the clock under it never finds a
            // mapping kept after its own "now".
            mapping.keptAt = DispatchTime.now().uptimeNanoseconds
            kept.mappings.append(mapping)
            kept.bytes += mapping.dataLength
            var evicted = [Mapping]()
            while kept.bytes > limit || kept.mappings.count > maximumCount {
                let oldest = kept.mappings.removeFirst()
                kept.bytes -= oldest.dataLength
                evicted.append(oldest)
            }
            return evicted
        }
        for old in evicted { old.unmap() }
        scheduleSweep(after: decaySeconds)
    }

    private static func scheduleSweep(after seconds: Int) {
        guard !sweepScheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + .seconds(seconds)) {
            sweepScheduled.store(false, ordering: .releasing)
            if let next = unmapOlder(than: UInt64(decaySeconds) * 1_000_000_000) {
                scheduleSweep(after: Swift.max(1, next))
            }
        }
    }

    /// Unmaps the kept mappings kept at least `age` nanoseconds ago; returns in how many seconds the
    /// oldest remaining one comes of that age, nil if none remains. `now` is read under the lock unless
    /// given (tests); a mapping stamped after it counts as 0 ns old.
    @discardableResult
    static func unmapOlder(than age: UInt64, now given: UInt64? = nil) -> Int? {
        let (old, oldestAge): ([Mapping], UInt64?) = kept.withLock { kept in
            let now = given ?? DispatchTime.now().uptimeNanoseconds
            func ageOf(_ mapping: Mapping) -> UInt64 { now >= mapping.keptAt ? now - mapping.keptAt : 0 }
            var old = [Mapping]()
            kept.mappings.removeAll { mapping in
                guard ageOf(mapping) >= age else { return false }
                old.append(mapping)
                return true
            }
            kept.bytes -= old.reduce(0) { $0 + $1.dataLength }
            return (old, kept.mappings.map(ageOf).max())
        }
        for mapping in old { mapping.unmap() }
        // The remaining ones are all younger than `age`.
        return oldestAge.map { Int((age - $0 + 999_999_999) / 1_000_000_000) }
    }

    /// Unmaps every kept mapping.
    static func releaseAll() {
        let all = kept.withLock { kept in
            defer { kept = Kept() }
            return kept.mappings
        }
        for mapping in all { mapping.unmap() }
    }

    /// Bytes kept now.
    static var keptBytes: Int { kept.withLock { $0.bytes } }
}

extension Storage {
    /// Bytes of freed results' pages kept for reuse by later results of the same size (see
    /// `RetainedMappings`): by default 1/8 of the machine's memory, at most 1 GiB, or
    /// `RELAYOUT_RETAIN_BYTES` when set. 0 keeps none; lowering it does not release what is kept
    /// (``releaseRetainedPages()`` does).
    public static var retainedBytesLimit: Int {
        get { RetainedMappings.limit.load(ordering: .relaxed) }
        set { RetainedMappings.limit.store(Swift.max(0, newValue), ordering: .relaxed) }
    }

    /// Bytes of freed results' pages kept now.
    public static var retainedBytes: Int { RetainedMappings.keptBytes }

    /// Hands every kept page back to the system.
    public static func releaseRetainedPages() { RetainedMappings.releaseAll() }
}
