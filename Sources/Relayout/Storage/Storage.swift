#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A reference-counted block of memory that tensors view: 64-byte aligned heap memory, or a
/// memory-mapped file region. Freed when the last tensor viewing it goes away.
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

    private enum Owner {
        case heap
        case mapping(UnsafeMutableRawPointer, Int)
    }
    private let owner: Owner

    /// Allocations at least this large ask the kernel for transparent huge pages: faulting in fresh
    /// memory costs more than copying into it, and 2 MiB pages cut the faults 512-fold.
    public static let hugePageThreshold = 4 << 20
    static let hugePageSize = 2 << 20

    /// Allocates `byteCount` bytes, optionally zero-filled. Large allocations are 2 MiB aligned and
    /// advised for transparent huge pages unless `hugePages` is false.
    public init(byteCount: Int, zeroed: Bool = false, hugePages: Bool = true) throws {
        guard byteCount >= 0 else { throw RelayoutError.allocationFailed("negative byte count \(byteCount)") }
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
    }

    /// Wraps `byteCount` bytes at `data` inside a mapping that this storage unmaps when freed.
    init(mapping: UnsafeMutableRawPointer, mappingLength: Int, data: UnsafeMutableRawPointer, byteCount: Int) {
        self.baseAddress = data
        self.byteCount = byteCount
        self.owner = .mapping(mapping, mappingLength)
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
        }
    }
}
