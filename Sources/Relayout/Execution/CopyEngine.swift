/// The single entry point every tensor copy goes through.
enum CopyEngine {
    /// Copies `source` into `destination` (same shape, no overlap between them, destination free of
    /// self-overlap: the caller has checked all three).
    static func copy(from source: RawTensor, into destination: RawTensor, threads: Int?) throws {
        ReferenceCopy.copy(
            from: UnsafeRawPointer(source.storage.baseAddress), layout: source.layout,
            to: destination.storage.baseAddress, layout: destination.layout,
            elementSize: source.elementSize)
    }
}
