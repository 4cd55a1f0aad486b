#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Remembers which new storage each original storage was deep-copied to, so that tensors sharing a
/// storage still share one (new) storage after a deep copy, as Python's `copy.deepcopy` memo does.
public final class DeepCopyMemo {
    // The originals are kept alive so that their identities cannot be reused while the memo lives.
    private var copies: [ObjectIdentifier: (original: Storage, copy: Storage)] = [:]

    public init() {}

    /// The copy of `storage` made through this memo, making it on first request.
    public func copy(of storage: Storage) throws -> Storage {
        if let known = copies[ObjectIdentifier(storage)] { return known.copy }
        let fresh = try Storage(byteCount: storage.byteCount)
        memcpy(fresh.baseAddress, storage.baseAddress, storage.byteCount)
        copies[ObjectIdentifier(storage)] = (storage, fresh)
        return fresh
    }

    /// How many distinct storages were copied.
    public var storageCount: Int { copies.count }
}
