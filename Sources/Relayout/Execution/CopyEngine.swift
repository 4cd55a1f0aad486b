/// The single entry point every tensor copy goes through.
enum CopyEngine {
    /// The tuning every copy uses unless a plan is made with another.
    static var tuning: CopyTuning { .active }

    /// Copies `source` into `destination` (same shape, no overlap between them, destination free of
    /// self-overlap: the caller has checked all three).
    static func copy(from source: RawTensor, into destination: RawTensor, threads: Int?) throws {
        let plan = try CopyPlan(source: source.layout, destination: destination.layout, elementSize: source.elementSize, tuning: tuning, threads: threads)
        plan.execute(source: UnsafeRawPointer(source.storage.baseAddress), destination: destination.storage.baseAddress)
    }
}
