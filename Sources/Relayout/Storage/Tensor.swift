/// A strided view of elements of type `Element` (1, 2, 4, 8 or 16 bytes, bitwise copyable).
///
/// A tensor is a storage plus a ``Layout``. Views (``permuted(_:)``, ``sliced(axis:start:stop:step:)``,
/// ``expanded(to:)`` and the rest) share storage; ``contiguous(format:threads:)``, ``clone(threads:)``
/// and ``deepCopy(memo:)`` follow PyTorch's rules for when they copy (see `docs/semantics.md`).
public struct Tensor<Element: BitwiseCopyable>: StridedView, @unchecked Sendable {
    /// The untyped view this tensor wraps.
    public let raw: RawTensor

    /// The memory the view reads and writes.
    public var storage: Storage { raw.storage }
    /// Shape, strides and offset, in elements.
    public var layout: Layout { raw.layout }

    static func checkElement() throws {
        guard MemoryLayout<Element>.size == MemoryLayout<Element>.stride else {
            throw RelayoutError.unsupportedElement("\(Element.self) has padding (size \(MemoryLayout<Element>.size), stride \(MemoryLayout<Element>.stride))")
        }
        try RawTensor.checkElementSize(MemoryLayout<Element>.size)
    }

    /// Wraps an untyped view whose element size matches `Element`.
    public init(_ raw: RawTensor) throws {
        try Tensor.checkElement()
        guard raw.elementSize == MemoryLayout<Element>.size else {
            throw RelayoutError.unsupportedElement("\(raw.elementSize)-byte elements viewed as \(Element.self) (\(MemoryLayout<Element>.size) bytes)")
        }
        self.raw = raw
    }

    /// Views `storage` through `layout`, checking that every element reached lies inside the storage.
    public init(storage: Storage, layout: Layout) throws {
        try Tensor.checkElement()
        raw = try RawTensor(storage: storage, layout: layout, elementSize: MemoryLayout<Element>.size)
    }

    /// A new dense tensor of `shape` in `format` with zero-filled memory.
    public init(zerosOf shape: [Int], format: MemoryFormat = .contiguous) throws {
        try Tensor.checkElement()
        raw = try RawTensor(shape: shape, elementSize: MemoryLayout<Element>.size, format: format, zeroed: true)
    }

    /// A new row-major tensor of `shape` holding `elements` in row-major order.
    public init(shape: [Int], elements: [Element]) throws {
        try self.init(zerosOf: shape)
        guard elements.count == layout.count else {
            throw RelayoutError.shapeMismatch("\(elements.count) elements for shape \(shape) (\(layout.count) elements)")
        }
        elements.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { raw.storage.baseAddress.copyMemory(from: base, byteCount: bytes.count) }
        }
    }

    public func replacingLayout(_ layout: Layout) throws -> Tensor {
        try Tensor(raw.replacingLayout(layout))
    }

    /// Whether both tensors view the same storage.
    public func sharesStorage<Other>(with other: Tensor<Other>) -> Bool { raw.sharesStorage(with: other.raw) }

    /// This tensor if already dense in `format` (sharing storage), otherwise a copy sharing nothing.
    public func contiguous(format: MemoryFormat = .contiguous, threads: Int? = nil) throws -> Tensor {
        try Tensor(raw.contiguous(format: format, threads: threads))
    }

    /// Always a copy; keeps non-overlapping dense strides, else row-major (`preserve_format`).
    public func clone(threads: Int? = nil) throws -> Tensor { try Tensor(raw.clone(threads: threads)) }

    /// Copies the whole storage, keeping offset and strides; one `memo` keeps aliasing across calls.
    public func deepCopy(memo: DeepCopyMemo? = nil) throws -> Tensor { try Tensor(raw.deepCopy(memo: memo)) }

    /// Writes `source` (same shape, or broadcastable to it) into this view; overlap-safe.
    public func copy(from source: Tensor, threads: Int? = nil) throws { try raw.copy(from: source.raw, threads: threads) }

    func checkedPosition(_ index: [Int]) throws -> Int {
        guard index.count == rank else {
            throw RelayoutError.indexOutOfRange("\(index.count) indices for a tensor of rank \(rank)")
        }
        for (axis, i) in index.enumerated() where i < 0 || i >= shape[axis] {
            throw RelayoutError.indexOutOfRange("index \(i) for dimension \(axis) of size \(shape[axis])")
        }
        return layout.elementIndex(index)
    }

    /// Reads one element (bounds-checked; slow, meant for tests and small tools).
    public func element(at index: [Int]) throws -> Element {
        let position = try checkedPosition(index)
        return storage.baseAddress.loadUnaligned(fromByteOffset: position * MemoryLayout<Element>.size, as: Element.self)
    }

    /// Writes one element (bounds-checked; slow).
    public func setElement(_ value: Element, at index: [Int]) throws {
        let position = try checkedPosition(index)
        storage.baseAddress.storeBytes(of: value, toByteOffset: position * MemoryLayout<Element>.size, as: Element.self)
    }

    /// All elements in row-major logical order.
    public func elements() throws -> [Element] {
        let dense = try contiguous()
        let pointer = dense.raw.originAddress.assumingMemoryBound(to: Element.self)
        return Array(UnsafeBufferPointer(start: pointer, count: dense.count))
    }
}
