/// The order in which a dense tensor keeps its elements in memory.
public enum MemoryFormat: String, Sendable, CaseIterable {
    /// Row-major (C order): the last dimension varies fastest.
    case contiguous
    /// Channels-last: NHWC order in memory for a logical NCHW tensor (NDHWC for 5-D).
    case channelsLast = "channels-last"

    /// The dense layout of `shape` in this format.
    public func layout(for shape: [Int]) throws -> Layout {
        switch self {
        case .contiguous: return try Layout.rowMajor(shape)
        case .channelsLast: return try Layout.channelsLast(shape)
        }
    }

    /// Whether `layout` is dense in this format.
    public func matches(_ layout: Layout) -> Bool {
        switch self {
        case .contiguous: return layout.isContiguous
        case .channelsLast: return layout.isChannelsLastContiguous
        }
    }
}
