#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A strided view of untyped elements of 1, 2, 4, 8 or 16 bytes: what ``Tensor`` is made of, and
/// what code uses when the element type is only known at run time (a `.npy` file's dtype).
public struct RawTensor: StridedView, Sendable {
    /// The memory the view reads and writes.
    public let storage: Storage
    /// Shape, strides and offset, in elements.
    public let layout: Layout
    /// Bytes per element.
    public let elementSize: Int

    /// The element sizes Relayout copies.
    public static let supportedElementSizes: Set<Int> = [1, 2, 4, 8, 16]

    /// Views `storage` through `layout`, checking that every element reached lies inside the storage.
    public init(storage: Storage, layout: Layout, elementSize: Int) throws {
        try RawTensor.checkElementSize(elementSize)
        if let span = layout.span() {
            let capacity = storage.byteCount / elementSize
            guard span.lowerBound >= 0, span.upperBound < capacity else {
                throw RelayoutError.outOfBounds("\(layout) reaches elements \(span.lowerBound)...\(span.upperBound) of a storage holding \(capacity)")
            }
        } else if !layout.isEmpty {
            throw RelayoutError.outOfBounds("\(layout) overflows the address range")
        }
        self.storage = storage
        self.layout = layout
        self.elementSize = elementSize
    }

    /// Allocates a new dense tensor of `shape` in `format`.
    public init(shape: [Int], elementSize: Int, format: MemoryFormat = .contiguous, zeroed: Bool = false,
                placement: Placement = .standard, hugePages: Bool = true) throws {
        try RawTensor.checkElementSize(elementSize)
        let layout = try format.layout(for: shape)
        let (bytes, overflow) = layout.count.multipliedReportingOverflow(by: elementSize)
        guard !overflow else { throw RelayoutError.allocationFailed("\(shape) of \(elementSize)-byte elements overflows") }
        let storage = try Storage(byteCount: bytes, placement: placement, zeroed: zeroed, hugePages: hugePages)
        try self.init(storage: storage, layout: layout, elementSize: elementSize)
    }

    /// Where new results of `contiguous()`, `clone()` and `copied()` live: large ones are left
    /// untouched until the copy's workers write them (first touch, in parallel, each page on its
    /// writer's node); small ones come from the heap.
    static func resultPlacement(bytes: Int) -> Placement {
        bytes >= Storage.hugePageThreshold ? .firstTouch : .standard
    }

    static func checkElementSize(_ size: Int) throws {
        // A switch, not the set's hashing: every new view passes through here.
        switch size {
        case 1, 2, 4, 8, 16: return
        default: throw RelayoutError.unsupportedElement("element size \(size) bytes (supported: 1, 2, 4, 8, 16)")
        }
    }

    public func replacingLayout(_ layout: Layout) throws -> RawTensor {
        try RawTensor(storage: storage, layout: layout, elementSize: elementSize)
    }

    /// The address of the element at the layout's offset (the origin of the strides).
    public var originAddress: UnsafeMutableRawPointer {
        storage.baseAddress + layout.offset * elementSize
    }

    /// The bytes the view reaches, from its lowest to its highest element; empty for an empty view.
    public var byteRange: Range<Int> {
        guard let span = layout.span() else { return 0..<0 }
        return span.lowerBound * elementSize ..< (span.upperBound + 1) * elementSize
    }

    /// Whether both views read or write the same storage.
    public func sharesStorage(with other: RawTensor) -> Bool { storage === other.storage }

    /// Whether some byte is reached by both views.
    public func mayOverlap(_ other: RawTensor) -> Bool {
        guard sharesStorage(with: other) else { return false }
        return byteRange.overlaps(other.byteRange)
    }

    /// This view if it is already dense in `format` (sharing storage), otherwise a copy in new storage
    /// that shares nothing with this one.
    public func contiguous(format: MemoryFormat = .contiguous, threads: Int? = nil) throws -> RawTensor {
        if format.matches(layout) { return self }
        return try copied(format: format, threads: threads)
    }

    /// Always a copy in new storage, laid out densely in `format`.
    ///
    /// `placement` and `hugePages` choose how the result's memory is obtained (by default: first touch
    /// by the copy's workers and transparent huge pages for large results).
    public func copied(format: MemoryFormat = .contiguous, threads: Int? = nil, placement: Placement? = nil, hugePages: Bool = true) throws -> RawTensor {
        let (bytes, overflow) = layout.count.multipliedReportingOverflow(by: elementSize)
        guard !overflow else { throw RelayoutError.allocationFailed("\(shape) of \(elementSize)-byte elements overflows") }
        let chosen = placement ?? RawTensor.resultPlacement(bytes: bytes)
        let storage = try Storage.forOverwriting(byteCount: bytes, placement: chosen, hugePages: hugePages)
        // Pages a freed result faulted in (reused) are copied into like any touched memory.
        let fresh = storage.awaitsFirstTouch
        // The plan's destination layout is the result's (cached with it).
        let plan = try CopyEngine.densePlan(source: layout, format: format, elementSize: elementSize, threads: threads, freshDestination: fresh)
        let result = try RawTensor(storage: storage, layout: plan.destinationLayout, elementSize: elementSize)
        CopyEngine.execute(plan, from: self, into: result, freshDestination: fresh)
        return result
    }

    /// Always a copy in new storage. The copy keeps this view's strides when they are non-overlapping
    /// and dense, and is row-major otherwise (PyTorch's `preserve_format`).
    public func clone(threads: Int? = nil) throws -> RawTensor {
        guard layout.isNonOverlappingAndDense, !layout.isEmpty, layout.strides.allSatisfy({ $0 >= 0 }) else {
            return try copied(threads: threads)
        }
        let kept = try Layout(shape: layout.shape, strides: layout.strides, offset: 0)
        let bytes = layout.count * elementSize
        let storage = try Storage.forOverwriting(byteCount: bytes, placement: RawTensor.resultPlacement(bytes: bytes))
        let result = try RawTensor(storage: storage, layout: kept, elementSize: elementSize)
        try result.copy(from: self, threads: threads, freshDestination: storage.awaitsFirstTouch)
        return result
    }

    /// Copies the whole underlying storage and keeps offset and strides (PyTorch's `copy.deepcopy`).
    /// Tensors deep-copied with one `memo` that share a storage share one new storage afterwards.
    public func deepCopy(memo: DeepCopyMemo? = nil) throws -> RawTensor {
        let memo = memo ?? DeepCopyMemo()
        let copy = try memo.copy(of: storage)
        return try RawTensor(storage: copy, layout: layout, elementSize: elementSize)
    }

    /// Writes `source`'s elements into this view, element by element in logical order.
    ///
    /// `source` must have this view's shape or broadcast to it. This view must not reach any element
    /// twice. `source` may overlap this view: the result is the same as copying through a temporary.
    public func copy(from source: RawTensor, threads: Int? = nil) throws {
        try copy(from: source, threads: threads, freshDestination: false)
    }

    func copy(from source: RawTensor, threads: Int?, freshDestination: Bool) throws {
        guard source.elementSize == elementSize else {
            throw RelayoutError.unsupportedElement("cannot copy \(source.elementSize)-byte elements into \(elementSize)-byte elements")
        }
        // A source of the destination's shape is read as it is (no new view to build and check: a
        // 1 KiB copy spends a tenth of its time on such bookkeeping).
        var readable = source
        if source.layout.shape != layout.shape {
            let expanded: Layout
            do {
                expanded = try source.layout.expanded(to: layout.shape)
            } catch {
                throw RelayoutError.shapeMismatch("source shape \(source.shape) does not match or broadcast to destination shape \(shape)")
            }
            readable = try source.replacingLayout(expanded)
        }
        if try layout.writesSomeElementTwice() {
            throw RelayoutError.overlappingDestination("destination \(layout) reaches some element more than once")
        }
        if layout.isEmpty { return }
        if readable.mayOverlap(self) {
            // Same result as NumPy: read everything before writing anything.
            let staged = try readable.copied(threads: threads)
            try CopyEngine.copy(from: staged, into: self, threads: threads)
        } else {
            try CopyEngine.copy(from: readable, into: self, threads: threads, freshDestination: freshDestination)
        }
    }
}
