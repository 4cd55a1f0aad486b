/// A value that holds tensors and can be deep-copied by ``deepCopy(_:compacting:threads:)``.
///
/// Conforming is one method: return the same value with every tensor inside replaced by
/// `transform(tensor)`. The deep copy calls it twice — once to learn which storages are shared, once to
/// build the copy.
///
/// ```swift
/// struct LayerState: DeepCopyable {
///     var weight: Tensor<Float>
///     var bias: Tensor<Float>
///     func mapTensors(_ transform: (RawTensor) throws -> RawTensor) throws -> LayerState {
///         LayerState(weight: try weight.mapTensors(transform), bias: try bias.mapTensors(transform))
///     }
/// }
/// ```
public protocol DeepCopyable {
    func mapTensors(_ transform: (RawTensor) throws -> RawTensor) throws -> Self
}

extension RawTensor: DeepCopyable {
    public func mapTensors(_ transform: (RawTensor) throws -> RawTensor) throws -> RawTensor { try transform(self) }
}

extension Tensor: DeepCopyable {
    public func mapTensors(_ transform: (RawTensor) throws -> RawTensor) throws -> Tensor { try Tensor(transform(raw)) }
}

extension Array: DeepCopyable where Element: DeepCopyable {
    public func mapTensors(_ transform: (RawTensor) throws -> RawTensor) throws -> [Element] {
        try map { try $0.mapTensors(transform) }
    }
}

extension Dictionary: DeepCopyable where Value: DeepCopyable {
    public func mapTensors(_ transform: (RawTensor) throws -> RawTensor) throws -> [Key: Value] {
        try mapValues { try $0.mapTensors(transform) }
    }
}

extension Optional: DeepCopyable where Wrapped: DeepCopyable {
    public func mapTensors(_ transform: (RawTensor) throws -> RawTensor) throws -> Wrapped? {
        try map { try $0.mapTensors(transform) }
    }
}
