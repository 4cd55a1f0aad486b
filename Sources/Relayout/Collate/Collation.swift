import CRelayoutKernels

/// The element type a collation writes.
public enum CollateOutput: String, Sendable, CaseIterable {
    /// The input's own elements, bit for bit (any element size).
    case same
    /// `Float(input) * scale[c] + shift[c]` as Float32, Float16 or BFloat16 (input must be UInt8).
    case float32, float16, bfloat16

    public var elementSize: Int? {
        switch self {
        case .same: return nil
        case .float32: return 4
        case .float16, .bfloat16: return 2
        }
    }
}

/// Stacks samples of one shape into a batch in one pass, optionally permuting each sample (HWC→CHW)
/// and converting UInt8 to Float32/Float16/BFloat16 with a per-channel scale and shift on the way.
/// The channel is the sample's last dimension. A collation is made once and applied to every batch.
public struct Collation: Sendable {
    public let sampleShape: [Int]
    public let inputElementSize: Int
    /// NumPy's `transpose` of each sample (e.g. `[2, 0, 1]` for HWC→CHW), or nil.
    public let permutation: [Int]?
    public let output: CollateOutput
    public let scale: [Float]
    public let shift: [Float]

    public init(sampleShape: [Int], inputElementSize: Int, permutation: [Int]? = nil, output: CollateOutput = .same,
                scale: [Float] = [], shift: [Float] = []) throws {
        try RawTensor.checkElementSize(inputElementSize)
        guard !sampleShape.isEmpty, sampleShape.allSatisfy({ $0 > 0 }) else {
            throw RelayoutError.invalidArgument("sample shape \(sampleShape) must have positive sizes")
        }
        if let permutation { _ = try Layout.rowMajor(sampleShape).permuted(permutation) }
        let channels = sampleShape.last!
        if output != .same {
            guard inputElementSize == 1 else {
                throw RelayoutError.unsupportedElement("conversion to \(output.rawValue) needs UInt8 input, got \(inputElementSize)-byte elements")
            }
        } else if !scale.isEmpty || !shift.isEmpty {
            throw RelayoutError.invalidArgument("scale and shift need a conversion (output float32, float16 or bfloat16)")
        }
        for (name, values) in [("scale", scale), ("shift", shift)] where !values.isEmpty && values.count != 1 && values.count != channels {
            throw RelayoutError.shapeMismatch("\(name) has \(values.count) values for \(channels) channels")
        }
        self.sampleShape = sampleShape
        self.inputElementSize = inputElementSize
        self.permutation = permutation
        self.output = output
        self.scale = (0..<channels).map { scale.isEmpty ? 1 : scale[scale.count == 1 ? 0 : $0] }
        self.shift = (0..<channels).map { shift.isEmpty ? 0 : shift[shift.count == 1 ? 0 : $0] }
    }

    public var outputElementSize: Int { output.elementSize ?? inputElementSize }

    /// The shape of one sample in the batch.
    public var outputSampleShape: [Int] { permutation.map { p in p.map { sampleShape[$0 < 0 ? $0 + sampleShape.count : $0] } } ?? sampleShape }

    /// `[count] + outputSampleShape`.
    public func batchShape(count: Int) -> [Int] { [count] + outputSampleShape }

    /// A new batch buffer for `count` samples (reuse it across batches).
    public func makeBatch(count: Int) throws -> RawTensor {
        try RawTensor(shape: batchShape(count: count), elementSize: outputElementSize)
    }

    /// Checks one sample; the error names it.
    func check(_ sample: RawTensor, index: Int) throws {
        guard sample.shape == sampleShape else {
            throw RelayoutError.shapeMismatch("sample \(index) has shape \(sample.shape), expected \(sampleShape)")
        }
        guard sample.elementSize == inputElementSize else {
            throw RelayoutError.unsupportedElement("sample \(index) has \(sample.elementSize)-byte elements, expected \(inputElementSize)")
        }
    }

    /// Writes `samples` into the first `samples.count` slots of `batch` (a row-major tensor of
    /// ``batchShape(count:)`` for at least that many samples). Samples may be any strided views.
    public func collate(_ samples: [RawTensor], into batch: RawTensor, threads: Int? = nil) throws {
        for (k, sample) in samples.enumerated() { try check(sample, index: k) }
        guard batch.elementSize == outputElementSize, batch.isContiguous, batch.rank == sampleShape.count + 1,
              Array(batch.shape.dropFirst()) == outputSampleShape, batch.shape[0] >= samples.count
        else {
            throw RelayoutError.shapeMismatch("batch \(batch.shape) of \(batch.elementSize)-byte elements does not hold \(samples.count) samples of \(outputSampleShape) (\(outputElementSize)-byte)")
        }
        if samples.isEmpty { return }
        let slot = outputSampleShape.reduce(1, *)
        let slotLayout = try Layout.rowMajor(outputSampleShape)
        let base = batch.originAddress
        let workers = Swift.min(threads ?? Parallelism.defaultThreadCount, samples.count)
        if output == .same {
            // One plan per distinct sample layout, each run single-threaded: workers split samples.
            // From the engine's plan cache, so later batches of the same layouts do not plan again.
            var plans = [Layout: CopyPlan]()
            for sample in samples where plans[sample.layout] == nil {
                let view = try permutation.map { try sample.layout.permuted($0) } ?? sample.layout
                plans[sample.layout] = try CopyEngine.plan(source: view, destination: slotLayout, elementSize: inputElementSize, threads: 1)
            }
            Executor.run(chunks: samples.count, workers: workers) { n, _ in
                plans[samples[n].layout]!.execute(source: samples[n].storage.baseAddress, destination: base + n * slot * inputElementSize)
            }
            return
        }
        let views = try samples.map { sample in try permutation.map { try sample.layout.permuted($0) } ?? sample.layout }
        let channelAxis = permutation.map { p in p.firstIndex { ($0 < 0 ? $0 + sampleShape.count : $0) == sampleShape.count - 1 }! } ?? sampleShape.count - 1
        // The common image case gets a loop that reads each pixel once and writes all three planes.
        let planar = sampleShape.count == 3 && sampleShape[2] == 3 && permutation == [2, 0, 1]
        Executor.run(chunks: samples.count, workers: workers) { n, _ in
            let source = UnsafePointer(samples[n].storage.baseAddress.assumingMemoryBound(to: UInt8.self))
            let destination = base + n * slot * outputElementSize
            if planar && samples[n].isContiguous {
                let pixels = source + samples[n].layout.offset
                let (height, width) = (sampleShape[0], sampleShape[1])
                switch output {
                case .float32: ConvertKernels.planes3(pixels, height * width, destination.assumingMemoryBound(to: Float.self), scale, shift) { $0 }
                case .float16: ConvertKernels.planes3(pixels, height * width, destination.assumingMemoryBound(to: UInt16.self), scale, shift) { Float16($0).bitPattern }
                case .bfloat16: ConvertKernels.planes3(pixels, height * width, destination.assumingMemoryBound(to: UInt16.self), scale, shift, ConvertKernels.bfloat16)
                case .same: break
                }
                return
            }
            switch output {
            case .float32: ConvertKernels.convert(source, views[n], destination.assumingMemoryBound(to: Float.self), channelAxis, scale, shift) { $0 }
            case .float16: ConvertKernels.convert(source, views[n], destination.assumingMemoryBound(to: UInt16.self), channelAxis, scale, shift) { Float16($0).bitPattern }
            case .bfloat16: ConvertKernels.convert(source, views[n], destination.assumingMemoryBound(to: UInt16.self), channelAxis, scale, shift, ConvertKernels.bfloat16)
            case .same: break
            }
        }
    }
}

enum ConvertKernels {
    /// Round-to-nearest-even truncation of a Float32 to its upper 16 bits (NaN stays NaN).
    @inline(__always)
    static func bfloat16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let rounding = 0x7FFF + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }

    /// Interleaved 3-channel pixels (HWC) to three planes (CHW), converted and normalised; each pixel
    /// read once, a block at a time so the three output streams advance together.
    @inline(__always)
    static func planes3<Out>(_ source: UnsafePointer<UInt8>, _ pixels: Int, _ destination: UnsafeMutablePointer<Out>,
                             _ scale: [Float], _ shift: [Float], _ store: (Float) -> Out) {
        let (a0, a1, a2) = (scale[0], scale[1], scale[2])
        let (b0, b1, b2) = (shift[0], shift[1], shift[2])
        // Blocks of pixels are converted into an L1 buffer, then streamed out with non-temporal
        // stores: the batch is far larger than the caches and is only written, never read.
        let block = 1024
        withUnsafeTemporaryAllocation(of: Out.self, capacity: 3 * block) { buffer in
            let e0 = buffer.baseAddress!, e1 = e0 + block, e2 = e0 + 2 * block
            var start = 0
            while start < pixels {
                let count = Swift.min(block, pixels - start)
                let s = source + 3 * start
                if Out.self == Float.self {
                    scale.withUnsafeBufferPointer { scale in
                        shift.withUnsafeBufferPointer { shift in
                            rl_planes3_u8_f32(s, count, UnsafeMutableRawPointer(e0).assumingMemoryBound(to: Float.self),
                                              UnsafeMutableRawPointer(e1).assumingMemoryBound(to: Float.self),
                                              UnsafeMutableRawPointer(e2).assumingMemoryBound(to: Float.self), scale.baseAddress, shift.baseAddress)
                        }
                    }
                } else {
                    for p in 0..<count {
                        e0[p] = store(Float(s[3 * p]) * a0 + b0)
                        e1[p] = store(Float(s[3 * p + 1]) * a1 + b1)
                        e2[p] = store(Float(s[3 * p + 2]) * a2 + b2)
                    }
                }
                let bytes = count * MemoryLayout<Out>.stride
                rl_copy_streaming(destination + start, e0, bytes)
                rl_copy_streaming(destination + pixels + start, e1, bytes)
                rl_copy_streaming(destination + 2 * pixels + start, e2, bytes)
                start += count
            }
            rl_store_fence()
        }
    }

    /// Writes `view` of UInt8 at `source` converted into a row-major `destination`, channel by
    /// channel: the output's last dimension as the inner loop, an odometer over the others.
    @inline(__always)
    static func convert<Out>(_ source: UnsafePointer<UInt8>, _ view: Layout, _ destination: UnsafeMutablePointer<Out>, _ channelAxis: Int,
                             _ scale: [Float], _ shift: [Float], _ store: (Float) -> Out) {
        let rank = view.rank
        let shape = view.shape, strides = view.strides
        let inner = shape[rank - 1], innerStride = strides[rank - 1]
        let rows = view.count / inner
        scale.withUnsafeBufferPointer { scale in
            shift.withUnsafeBufferPointer { shift in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: rank) { index in
                    index.initialize(repeating: 0)
                    var from = view.offset, to = 0
                    for _ in 0..<rows {
                        let s = source + from, d = destination + to
                        if channelAxis == rank - 1 {
                            for i in 0..<inner { d[i] = store(Float(s[i * innerStride]) * scale[i] + shift[i]) }
                        } else {
                            let a = scale[index[channelAxis]], b = shift[index[channelAxis]]
                            if innerStride == 1 {
                                for i in 0..<inner { d[i] = store(Float(s[i]) * a + b) }
                            } else {
                                for i in 0..<inner { d[i] = store(Float(s[i * innerStride]) * a + b) }
                            }
                        }
                        to += inner
                        var axis = rank - 2
                        while axis >= 0 {
                            index[axis] += 1
                            from += strides[axis]
                            if index[axis] < shape[axis] { break }
                            from -= strides[axis] * shape[axis]
                            index[axis] = 0
                            axis -= 1
                        }
                    }
                }
            }
        }
    }
}
