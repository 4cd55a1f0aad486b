import XCTest
@testable import Relayout

final class CollateTests: XCTestCase {
    func sample(_ k: Int, shape: [Int], elementSize: Int) throws -> RawTensor {
        let t = try RawTensor(shape: shape, elementSize: elementSize)
        let bytes = UnsafeMutableRawBufferPointer(start: t.storage.baseAddress, count: t.storage.byteCount)
        for i in 0..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: i &* 31 &+ k &* 7) }
        return t
    }

    /// The unfused reference: stack, then permute, then convert, then normalise, element by element.
    func reference(_ samples: [RawTensor], _ c: Collation) throws -> [Float] {
        var out = [Float]()
        for s in samples {
            let view = try c.permutation.map { try s.permuted($0) } ?? s
            let dense = try view.copied()
            let channelAxis = c.permutation.map { p in p.firstIndex(of: c.sampleShape.count - 1)! } ?? c.sampleShape.count - 1
            let strides = Layout.rowMajorStrides(dense.shape)
            for i in 0..<dense.count {
                let channel = (i / strides[channelAxis]) % dense.shape[channelAxis]
                let raw = Float(dense.storage.baseAddress.load(fromByteOffset: i, as: UInt8.self))
                out.append(raw * c.scale[channel] + c.shift[channel])
            }
        }
        return out
    }

    func testConversionsMatchTheUnfusedReference() throws {
        let shape = [5, 7, 3]
        let samples = try (0..<4).map { try sample($0, shape: shape, elementSize: 1) }
        for permutation in [nil, [2, 0, 1], [1, 0, 2]] as [[Int]?] {
            for output in [CollateOutput.float32, .float16, .bfloat16] {
                let c = try Collation(sampleShape: shape, inputElementSize: 1, permutation: permutation, output: output,
                                      scale: [1 / 255, 2 / 255, 0.5], shift: [-0.5, 0, 0.25])
                let batch = try c.makeBatch(count: 4)
                try c.collate(samples, into: batch, threads: 3)
                let expected = try reference(samples, c)
                let got: [Float]
                switch output {
                case .float32: got = try Tensor<Float>(batch).elements()
                case .float16: got = try Tensor<Float16>(batch).elements().map(Float.init)
                default: got = try Tensor<UInt16>(batch).elements().map { Float(bitPattern: UInt32($0) << 16) }
                }
                let tolerance: Float = output == .float32 ? 1e-6 : (output == .float16 ? 1e-3 : 8e-3)
                XCTAssertEqual(got.count, expected.count)
                for (g, e) in zip(got, expected) where abs(g - e) > tolerance * max(1, abs(e)) {
                    return XCTFail("\(output) \(String(describing: permutation)): \(g) vs \(e)")
                }
            }
        }
    }

    func testStackingWithoutConversionForEveryElementSize() throws {
        for elementSize in [1, 2, 4, 8, 16] {
            let samples = try (0..<3).map { try sample($0, shape: [4, 6, 2], elementSize: elementSize) }
            // One sample is a strided view (a transposed copy transposed back).
            let strided = try samples[1].permuted([2, 0, 1]).contiguous().permuted([1, 2, 0])
            let c = try Collation(sampleShape: [4, 6, 2], inputElementSize: elementSize, permutation: [2, 0, 1])
            let batch = try c.makeBatch(count: 3)
            try c.collate([samples[0], strided, samples[2]], into: batch)
            for (k, s) in samples.enumerated() {
                let expected = try s.permuted([2, 0, 1]).copied()
                let slot = try batch.selected(axis: 0, index: k).copied()
                XCTAssertEqual(Array(UnsafeRawBufferPointer(start: slot.storage.baseAddress, count: slot.count * elementSize)),
                               Array(UnsafeRawBufferPointer(start: expected.storage.baseAddress, count: expected.count * elementSize)), "\(elementSize)-byte sample \(k)")
            }
        }
    }

    func testBFloat16RoundsToNearestEven() {
        XCTAssertEqual(ConvertKernels.bfloat16(1.0), 0x3F80)
        XCTAssertEqual(ConvertKernels.bfloat16(Float(bitPattern: 0x3F80_8000)), 0x3F80, "a tie rounds to even")
        XCTAssertEqual(ConvertKernels.bfloat16(Float(bitPattern: 0x3F81_8000)), 0x3F82)
        XCTAssertTrue(ConvertKernels.bfloat16(.nan) & 0x7FC0 == 0x7FC0)
    }

    func testMismatchedSamplesAreErrorsNamingTheSample() throws {
        let c = try Collation(sampleShape: [2, 2, 3], inputElementSize: 1, output: .float32)
        let good = try sample(0, shape: [2, 2, 3], elementSize: 1)
        let wrongShape = try sample(1, shape: [2, 3, 3], elementSize: 1)
        let wrongType = try sample(2, shape: [2, 2, 3], elementSize: 2)
        let batch = try c.makeBatch(count: 3)
        XCTAssertThrowsError(try c.collate([good, wrongShape], into: batch)) { XCTAssertTrue("\($0)".contains("sample 1"), "\($0)") }
        XCTAssertThrowsError(try c.collate([good, good, wrongType], into: batch)) { XCTAssertTrue("\($0)".contains("sample 2"), "\($0)") }
        XCTAssertThrowsError(try c.collate([good, good, good, good], into: batch), "more samples than slots")
        XCTAssertThrowsError(try Collation(sampleShape: [2, 2, 3], inputElementSize: 2, output: .float32), "conversion needs UInt8")
        XCTAssertThrowsError(try Collation(sampleShape: [2, 2, 3], inputElementSize: 1, output: .float32, scale: [1, 2]))
        XCTAssertThrowsError(try Collation(sampleShape: [2, 2, 3], inputElementSize: 1, scale: [1]), "scale needs a conversion")
        XCTAssertThrowsError(try Collation(sampleShape: [2, 2, 3], inputElementSize: 1, permutation: [0, 0, 1]))
    }
}
