/// The last few plans made, so that a copy repeated between the same layouts — a training loop's
/// `contiguous()` of the same view every step, a loader's collation — skips planning and the
/// allocations planning makes (its loop arrays, and for `contiguous()` the result's strides, which
/// come from the cached plan's destination layout).
///
/// A small array searched linearly: layouts compare in a few nanoseconds, and a miss costs one
/// plan, as it did without the cache. Entries are replaced round-robin.
final class PlanCache: Sendable {
    static let shared = PlanCache(capacity: 32)

    /// What a plan was made for. The destination is either a given layout or "dense in this format,
    /// whatever the shape" (the layout `contiguous()` and `clone()` create).
    struct Key: Equatable {
        enum Destination: Equatable {
            case layout(Layout)
            case dense(MemoryFormat)
        }
        var source: Layout
        var destination: Destination
        var elementSize: Int
        var threads: Int
        var tuning: CopyTuning
    }

    private struct State {
        var keys: [Key?]
        var plans: [CopyPlan?]
        var next = 0
    }

    private let state: Locked<State>

    init(capacity: Int) {
        state = Locked(State(keys: Array(repeating: nil, count: capacity), plans: Array(repeating: nil, count: capacity)))
    }

    /// The cached plan for `key`, or a new one from `make`, remembered for next time.
    func plan(for key: Key, make: () throws -> CopyPlan) throws -> CopyPlan {
        let found: CopyPlan? = state.withLock { state in
            for k in state.keys.indices where state.keys[k] == key { return state.plans[k] }
            return nil
        }
        if let found { return found }
        let plan = try make()
        state.withLock { state in
            state.keys[state.next] = key
            state.plans[state.next] = plan
            state.next = (state.next + 1) % state.keys.count
        }
        return plan
    }

    /// Forgets every plan (tests; a changed tuning needs no flush, it is part of the key).
    func removeAll() {
        state.withLock { state in
            for k in state.keys.indices {
                state.keys[k] = nil
                state.plans[k] = nil
            }
            state.next = 0
        }
    }
}
