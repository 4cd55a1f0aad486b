#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Deep-copies every tensor inside `value`, keeping aliasing: tensors that share a storage come out
/// sharing one new storage, with their offsets and strides.
///
/// By default each storage is copied whole (PyTorch's `copy.deepcopy`: a view of a large storage
/// copies the large storage). With `compacting`, only the bytes the views reach are copied: the
/// reached ranges of each storage are merged, packed into a smaller storage, and the views' offsets
/// moved to match.
///
/// All storage copies of one call run as one chunked parallel job, so a few huge tensors and
/// thousands of small ones balance across the workers.
public func deepCopy<Value: DeepCopyable>(_ value: Value, compacting: Bool = false, threads: Int? = nil) throws -> Value {
    var plan = DeepCopyPlan(compacting: compacting)
    _ = try value.mapTensors { tensor in
        plan.note(tensor)
        return tensor
    }
    try plan.allocate()
    plan.copyAll(threads: threads ?? Parallelism.defaultThreadCount)
    return try value.mapTensors { try plan.copy(of: $0) }
}

/// The storages one deep copy reaches, where each goes, and the byte ranges to move.
struct DeepCopyPlan {
    struct Interval {
        var lower: Int  // first byte in the original storage
        var upper: Int  // one past the last byte
        var target = 0  // where it starts in the new storage
    }
    struct Entry {
        var original: Storage
        var intervals: [Interval] = []
        var copy: Storage? = nil
    }

    let compacting: Bool
    private(set) var entries: [ObjectIdentifier: Entry] = [:]
    private var order: [ObjectIdentifier] = []

    init(compacting: Bool) { self.compacting = compacting }

    mutating func note(_ tensor: RawTensor) {
        let id = ObjectIdentifier(tensor.storage)
        if entries[id] == nil {
            entries[id] = Entry(original: tensor.storage)
            order.append(id)
        }
        let range = tensor.byteRange
        if !range.isEmpty { entries[id]!.intervals.append(Interval(lower: range.lowerBound, upper: range.upperBound)) }
    }

    /// Allocates each new storage: the whole size, or the merged reached ranges packed together.
    mutating func allocate() throws {
        for id in order {
            var entry = entries[id]!
            if compacting {
                let sorted = entry.intervals.sorted { $0.lower < $1.lower }
                var merged = [Interval]()
                for interval in sorted {
                    if let last = merged.last, interval.lower <= last.upper {
                        merged[merged.count - 1].upper = Swift.max(last.upper, interval.upper)
                    } else {
                        merged.append(interval)
                    }
                }
                // Each interval keeps its position modulo 64, so every view's element alignment
                // (1 to 16 bytes, all dividing 64) survives the move.
                var next = 0
                for k in merged.indices {
                    let phase = merged[k].lower % 64
                    next = (next + 63) / 64 * 64 + phase
                    merged[k].target = next
                    next += merged[k].upper - merged[k].lower
                }
                entry.intervals = merged
                entry.copy = try Storage(byteCount: next, placement: RawTensor.resultPlacement(bytes: next))
            } else {
                let bytes = entry.original.byteCount
                entry.intervals = bytes > 0 ? [Interval(lower: 0, upper: bytes, target: 0)] : []
                entry.copy = try Storage(byteCount: bytes, placement: RawTensor.resultPlacement(bytes: bytes))
            }
            entries[id] = entry
        }
    }

    /// Copies every interval as one parallel job: intervals cut into pieces of at most 1 MiB, small
    /// ones grouped, workers claiming groups from one cursor.
    func copyAll(threads: Int) {
        let piece = 1 << 20
        var moves = [(from: UnsafeRawPointer, to: UnsafeMutableRawPointer, bytes: Int)]()
        for id in order {
            let entry = entries[id]!
            for interval in entry.intervals {
                var offset = 0
                let length = interval.upper - interval.lower
                while offset < length {
                    let bytes = Swift.min(piece, length - offset)
                    moves.append((UnsafeRawPointer(entry.original.baseAddress + interval.lower + offset),
                                  entry.copy!.baseAddress + interval.target + offset, bytes))
                    offset += bytes
                }
            }
        }
        // Groups of consecutive moves of about one piece each.
        var groups = [0]
        var filled = 0
        for (k, move) in moves.enumerated() {
            if filled > 0 && filled + move.bytes > piece {
                groups.append(k)
                filled = 0
            }
            filled += move.bytes
        }
        groups.append(moves.count)
        let total = moves.reduce(0) { $0 + $1.bytes }
        let workers = total < CopyTuning.active.inlineThresholdBytes ? 1 : threads
        moves.withUnsafeBufferPointer { moves in
            Executor.run(chunks: groups.count - 1, workers: workers) { group, _ in
                for k in groups[group]..<groups[group + 1] {
                    memcpy(moves[k].to, moves[k].from, moves[k].bytes)
                }
            }
        }
    }

    /// The copy of one tensor: the new storage, and the offset moved where compacting moved it.
    func copy(of tensor: RawTensor) throws -> RawTensor {
        let entry = entries[ObjectIdentifier(tensor.storage)]!
        guard compacting, !tensor.layout.isEmpty else {
            return try RawTensor(storage: entry.copy!, layout: compacting ? Layout(shape: tensor.shape, strides: tensor.strides, offset: 0) : tensor.layout, elementSize: tensor.elementSize)
        }
        let start = tensor.byteRange.lowerBound
        let interval = entry.intervals.first { $0.lower <= start && start < $0.upper }!
        let shiftBytes = interval.target - interval.lower
        let layout = try Layout(shape: tensor.shape, strides: tensor.strides, offset: tensor.layout.offset + shiftBytes / tensor.elementSize)
        return try RawTensor(storage: entry.copy!, layout: layout, elementSize: tensor.elementSize)
    }
}
