/// A tensor-like value made of a storage and a layout. The view algebra is written once here for
/// every such type: each view shares storage with the value it came from.
public protocol StridedView {
    /// The shape, strides and offset of the view.
    var layout: Layout { get }
    /// The same storage seen through another layout (checked against the storage's bounds).
    func replacingLayout(_ layout: Layout) throws -> Self
}

extension StridedView {
    /// The extent of each dimension.
    public var shape: [Int] { layout.shape }
    /// The step in elements along each dimension.
    public var strides: [Int] { layout.strides }
    /// The number of dimensions.
    public var rank: Int { layout.rank }
    /// The number of elements.
    public var count: Int { layout.count }
    /// Whether the view is row-major contiguous (PyTorch's rule).
    public var isContiguous: Bool { layout.isContiguous }

    /// Whether the view is dense in `format`.
    public func isContiguous(format: MemoryFormat) -> Bool { format.matches(layout) }

    /// NumPy's `transpose(axes)` / PyTorch's `permute(axes)`.
    public func permuted(_ axes: [Int]) throws -> Self { try replacingLayout(layout.permuted(axes)) }
    /// Swaps two dimensions.
    public func transposed(_ first: Int, _ second: Int) throws -> Self { try replacingLayout(layout.transposed(first, second)) }
    /// `start:stop:step` along `axis` with NumPy's rules.
    public func sliced(axis: Int, start: Int? = nil, stop: Int? = nil, step: Int = 1) throws -> Self {
        try replacingLayout(layout.sliced(axis: axis, start: start, stop: stop, step: step))
    }
    /// Picks `index` along `axis` and drops that dimension.
    public func selected(axis: Int, index: Int) throws -> Self { try replacingLayout(layout.selected(axis: axis, index: index)) }
    /// A NumPy basic index such as `[::2, 1:5, 0]`.
    public func indexed(_ specs: [IndexSpec]) throws -> Self { try replacingLayout(layout.indexed(specs)) }
    /// Broadcasts size-1 dimensions (stride 0), PyTorch's `expand`.
    public func expanded(to shape: [Int]) throws -> Self { try replacingLayout(layout.expanded(to: shape)) }
    /// Drops size-1 dimensions (all, or just `axis`).
    public func squeezed(axis: Int? = nil) throws -> Self { try replacingLayout(layout.squeezed(axis: axis)) }
    /// Inserts a size-1 dimension.
    public func unsqueezed(at axis: Int) throws -> Self { try replacingLayout(layout.unsqueezed(at: axis)) }
    /// Reshapes without copying, or throws ``RelayoutError/reshapeNeedsCopy(_:)``.
    public func reshaped(_ shape: [Int]) throws -> Self { try replacingLayout(layout.reshaped(shape)) }
}
