import CNUMA
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// libnuma, behind a small interface: availability, the caller's node, page placement.
public enum NUMA {
    private static let availabilityOverride = Locked<Bool?>(nil)
    private static let warned = Atomic<Bool>(false)

    /// Whether the kernel and libnuma support NUMA policy here (false in some containers and on
    /// kernels built without NUMA); every placement then falls back to plain allocation.
    public static var isAvailable: Bool {
        if let forced = availabilityOverride.withLock({ $0 }) { return forced }
        return numa_available() >= 0
    }

    /// Pretends NUMA is (un)available, for tests of the fallback; nil restores the real answer.
    static func overrideAvailability(_ value: Bool?) { availabilityOverride.withLock { $0 = value } }

    /// libnuma's API version (from its header).
    public static var apiVersion: Int { Int(relayout_numa_api_version()) }

    /// The highest node number the kernel knows, or 0 where NUMA is unavailable.
    public static var highestNode: Int { isAvailable ? Int(numa_max_node()) : 0 }

    /// The CPU the calling thread runs on, or nil.
    public static var currentCPU: Int? {
        let cpu = relayout_current_cpu()
        return cpu >= 0 ? Int(cpu) : nil
    }

    /// The system page size.
    public static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// The node of each page of `byteCount` bytes at `address` (`move_pages` with no target nodes),
    /// or nil where the query is not possible. A page not yet faulted in reports a negative errno
    /// (`-ENOENT`).
    public static func pageNodes(address: UnsafeRawPointer, byteCount: Int) -> [Int]? {
        guard isAvailable, byteCount > 0 else { return isAvailable ? [] : nil }
        let first = Int(bitPattern: address) & ~(pageSize - 1)
        let last = (Int(bitPattern: address) + byteCount - 1) & ~(pageSize - 1)
        let count = (last - first) / pageSize + 1
        var pages = (0..<count).map { UnsafeMutableRawPointer(bitPattern: first + $0 * pageSize) }
        var status = [Int32](repeating: -1, count: count)
        let result = pages.withUnsafeMutableBufferPointer { p in
            status.withUnsafeMutableBufferPointer { s in
                numa_move_pages(0, UInt(count), p.baseAddress, nil, s.baseAddress, 0)
            }
        }
        return result == 0 ? status.map(Int.init) : nil
    }

    /// The node of the page holding each address, in one `move_pages` call; nil where the query is
    /// not possible, and a negative errno for a page not yet faulted in.
    public static func nodes(ofAddresses addresses: [UnsafeRawPointer]) -> [Int]? {
        guard isAvailable else { return nil }
        if addresses.isEmpty { return [] }
        var pages = addresses.map { UnsafeMutableRawPointer(bitPattern: Int(bitPattern: $0) & ~(pageSize - 1)) }
        var status = [Int32](repeating: -1, count: addresses.count)
        let result = pages.withUnsafeMutableBufferPointer { p in
            status.withUnsafeMutableBufferPointer { s in
                numa_move_pages(0, UInt(addresses.count), p.baseAddress, nil, s.baseAddress, 0)
            }
        }
        return result == 0 ? status.map(Int.init) : nil
    }

    /// Prints the one warning that a NUMA placement fell back to plain allocation.
    static func warnUnavailableOnce() {
        if !warned.exchange(true, ordering: .relaxed) {
            let line = "relayout: warning: NUMA is not available here; placements fall back to plain allocation\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
        }
    }

    /// Binds `byteCount` bytes at `address` (page aligned, not yet touched) to a placement.
    static func bind(_ address: UnsafeMutableRawPointer, _ byteCount: Int, to placement: Placement) throws {
        switch placement {
        case .standard, .firstTouch:
            return
        case .local:
            numa_setlocal_memory(address, byteCount)
        case let .node(node):
            try checkNodes([node])
            numa_tonode_memory(address, byteCount, Int32(node))
        case let .interleaved(nodes):
            let chosen = nodes.isEmpty ? Array(0...highestNode) : nodes
            try checkNodes(chosen)
            guard let mask = numa_allocate_nodemask() else { throw RelayoutError.allocationFailed("cannot allocate a NUMA node mask") }
            defer { numa_free_nodemask(mask) }
            for node in chosen { numa_bitmask_setbit(mask, UInt32(node)) }
            numa_interleave_memory(address, byteCount, mask)
        }
    }

    static func checkNodes(_ nodes: [Int]) throws {
        let allowed = numa_get_mems_allowed()
        defer { if let allowed { numa_free_nodemask(allowed) } }
        for node in nodes where node < 0 || node > highestNode || allowed.map({ numa_bitmask_isbitset($0, UInt32(node)) == 0 }) ?? true {
            throw RelayoutError.invalidArgument("NUMA node \(node) does not exist or is not allowed (nodes 0...\(highestNode))")
        }
    }
}

/// Where a storage's pages live.
public enum Placement: Equatable, Hashable, Sendable {
    /// The kernel's default policy: each page on the node of the thread that first writes it.
    case standard
    /// The node of the allocating thread.
    case local
    /// One node.
    case node(Int)
    /// Pages spread round-robin over `nodes` (all nodes when empty).
    case interleaved([Int])
    /// Nothing touches the pages before the engine's workers write them, each worker faulting in
    /// the pages of the chunks it copies (which spreads the page-fault cost over all threads and
    /// puts each page next to the worker that writes it).
    case firstTouch
}
