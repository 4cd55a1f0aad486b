#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A reference-counted block of memory that tensors view: 64-byte aligned heap memory, fresh
/// anonymous pages (first touch, or bound to NUMA nodes), or a memory-mapped file region. Freed when
/// the last tensor viewing it goes away.
///
/// Storage is shared mutable memory: writes through one tensor are seen by every tensor that views
/// the same storage. Relayout never writes to a storage concurrently from two copies it runs itself;
/// callers that share a storage across threads coordinate their own writes.
public final class Storage: @unchecked Sendable {
    /// Alignment of every heap allocation, one cache line (and the widest vector store).
    public static let alignment = 64

    /// The first byte.
    public let baseAddress: UnsafeMutableRawPointer
    /// The number of usable bytes.
    public let byteCount: Int

    /// Where the pages were asked to live.
    public let placement: Placement

    private enum Owner {
        case heap
        case mapping(UnsafeMutableRawPointer, Int)
        /// Fresh huge pages placed by first touch: kept for a later result when freed.
        case retainable(RetainedMappings.Mapping)
    }
    private let owner: Owner

    /// False when the pages were already faulted in by an earlier result (``forOverwriting(byteCount:placement:hugePages:)``);
    /// true for fresh anonymous pages nothing has touched yet.
    let pagesAreFresh: Bool

    /// Allocations at least this large ask the kernel for transparent huge pages: faulting in fresh
    /// memory costs more than copying into it, and 2 MiB pages cut the faults 512-fold.
    public static let hugePageThreshold = 4 << 20
    static let hugePageSize = 2 << 20

    /// Allocates `byteCount` bytes, optionally zero-filled. Large allocations are 2 MiB aligned and
    /// advised for transparent huge pages unless `hugePages` is false. `.firstTouch` maps fresh pages
    /// that nothing touches (they read as zero); `.local`, `.node` and `.interleaved` map fresh pages
    /// and bind them with libnuma before anything touches them, falling back to plain allocation with
    /// one warning where NUMA is unavailable.
    public convenience init(byteCount: Int, placement: Placement = .standard, zeroed: Bool = false, hugePages: Bool = true) throws {
        guard byteCount >= 0 else { throw RelayoutError.allocationFailed("negative byte count \(byteCount)") }
        switch placement {
        case .standard:
            try self.init(heapBytes: byteCount, zeroed: zeroed, hugePages: hugePages)
        case .firstTouch:
            // Fresh anonymous pages: zero without being touched, so the first writer places them.
            try self.init(boundBytes: byteCount, placement: placement, hugePages: hugePages)
        case .local, .node, .interleaved:
            if NUMA.isAvailable {
                try self.init(boundBytes: byteCount, placement: placement, hugePages: hugePages)
            } else {
                NUMA.warnUnavailableOnce()
                try self.init(heapBytes: byteCount, zeroed: zeroed, hugePages: hugePages)
            }
        }
    }

    private init(heapBytes byteCount: Int, zeroed: Bool, hugePages: Bool) throws {
        self.placement = .standard
        let huge = hugePages && byteCount >= Storage.hugePageThreshold
        let alignment = huge ? Storage.hugePageSize : Storage.alignment
        let (rounded, overflow) = byteCount.addingReportingOverflow(alignment - 1)
        guard !overflow else { throw RelayoutError.allocationFailed("could not allocate \(byteCount) bytes (size overflows)") }
        let allocation = Swift.max(rounded & ~(alignment - 1), Storage.alignment)
        var raw: UnsafeMutableRawPointer?
        let status = posix_memalign(&raw, alignment, allocation)
        guard status == 0, let raw else {
            throw RelayoutError.allocationFailed("could not allocate \(byteCount) bytes (error \(status))")
        }
        #if os(Linux)
        if huge { _ = madvise(raw, allocation, MADV_HUGEPAGE) }
        #endif
        if zeroed { memset(raw, 0, byteCount) }
        self.baseAddress = raw
        self.byteCount = byteCount
        self.owner = .heap
        self.pagesAreFresh = false
    }

    /// Wraps `byteCount` bytes at `data` inside a mapping that this storage unmaps when freed.
    convenience init(mapping: UnsafeMutableRawPointer, mappingLength: Int, data: UnsafeMutableRawPointer, byteCount: Int, placement: Placement = .standard) {
        self.init(owner: .mapping(mapping, mappingLength), data: data, byteCount: byteCount, placement: placement, pagesAreFresh: false)
    }

    private init(owner: Owner, data: UnsafeMutableRawPointer, byteCount: Int, placement: Placement, pagesAreFresh: Bool) {
        self.baseAddress = data
        self.byteCount = byteCount
        self.owner = owner
        self.placement = placement
        self.pagesAreFresh = pagesAreFresh
    }

    /// Storage for a result that a copy will overwrite completely: as ``init(byteCount:placement:zeroed:hugePages:)``,
    /// except that a large first-touch result may get the already faulted-in pages of a freed result
    /// of the same size (`RetainedMappings`), whose contents are stale until the copy writes them.
    static func forOverwriting(byteCount: Int, placement: Placement, hugePages: Bool = true) throws -> Storage {
        if placement == .firstTouch, hugePages, byteCount >= hugePageThreshold,
           let mapping = RetainedMappings.take(dataLength: mappedLength(byteCount: byteCount, granule: hugePageSize)) {
            return Storage(owner: .retainable(mapping), data: mapping.dataAddress, byteCount: byteCount, placement: placement, pagesAreFresh: false)
        }
        return try Storage(byteCount: byteCount, placement: placement, hugePages: hugePages)
    }

    /// Whether the copy that fills this storage is its pages' first touch: fresh pages placed by first
    /// touch, not reused ones.
    var awaitsFirstTouch: Bool { placement == .firstTouch && pagesAreFresh }

    /// The data length of a mapping for `byteCount` bytes: whole granules, at least one. A kept
    /// mapping serves a later storage whose length this gives the same.
    private static func mappedLength(byteCount: Int, granule: Int) -> Int {
        Swift.max(granule, (byteCount + granule - 1) / granule * granule)
    }

    /// Fresh anonymous pages bound to a NUMA placement before their first touch.
    private convenience init(boundBytes byteCount: Int, placement: Placement, hugePages: Bool) throws {
        let huge = hugePages && byteCount >= Storage.hugePageThreshold
        let granule = huge ? Storage.hugePageSize : NUMA.pageSize
        let length = Storage.mappedLength(byteCount: byteCount, granule: granule)
        // Over-allocate by one granule so the start can be aligned to it.
        guard let raw = mmap(nil, length + granule, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
            throw RelayoutError.allocationFailed("could not map \(byteCount) bytes: \(String(cString: strerror(errno)))")
        }
        let aligned = UnsafeMutableRawPointer(bitPattern: (Int(bitPattern: raw) + granule - 1) & ~(granule - 1))!
        do {
            if huge { _ = madvise(aligned, length, MADV_HUGEPAGE) }
            try NUMA.bind(aligned, length, to: placement)
        } catch {
            munmap(raw, length + granule)
            throw error
        }
        // Anonymous pages read as zero; `zeroed` needs no work, and touching here would place them.
        let owner: Owner = placement == .firstTouch && huge
            ? .retainable(RetainedMappings.Mapping(base: raw, length: length + granule, data: aligned, dataLength: length))
            : .mapping(raw, length + granule)
        self.init(owner: owner, data: aligned, byteCount: byteCount, placement: placement, pagesAreFresh: true)
    }

    /// Whether this storage is a memory-mapped file.
    public var isMapped: Bool {
        if case .mapping = owner { return true }
        return false
    }

    deinit {
        switch owner {
        case .heap: free(baseAddress)
        case let .mapping(base, length): munmap(base, length)
        case let .retainable(mapping): RetainedMappings.keepOrUnmap(mapping)
        }
    }
}
