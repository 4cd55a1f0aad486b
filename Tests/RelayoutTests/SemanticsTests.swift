import XCTest
@testable import Relayout

/// The semantics of docs/semantics.md, example by example.
final class SemanticsTests: XCTestCase {
    func iota(_ shape: [Int]) throws -> Tensor<Int32> {
        try Tensor(shape: shape, elements: (0..<shape.reduce(1, *)).map(Int32.init))
    }

    func testContiguousReturnsTheSameStorageWhenAlreadyContiguous() throws {
        let a = try iota([3, 4])
        let row = try a.sliced(axis: 0, start: 0, stop: 1)
        let c = try row.contiguous()
        XCTAssertTrue(c.sharesStorage(with: a))
        try c.setElement(-7, at: [0, 2])
        XCTAssertEqual(try a.element(at: [0, 2]), -7, "writes through contiguous() of a contiguous view reach the original")
    }

    func testContiguousOfATransposeCopiesAndSharesNothing() throws {
        let a = try iota([3, 4])
        let t = try a.transposed(0, 1)
        XCTAssertFalse(t.isContiguous)
        let c = try t.contiguous()
        XCTAssertFalse(c.sharesStorage(with: a))
        XCTAssertTrue(c.isContiguous)
        XCTAssertEqual(try c.elements(), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
        try c.setElement(100, at: [0, 0])
        XCTAssertEqual(try a.element(at: [0, 0]), 0)
    }

    func testChannelsLastFormat() throws {
        let a = try iota([1, 2, 2, 3])  // NCHW
        let cl = try a.contiguous(format: .channelsLast)
        XCTAssertTrue(cl.isContiguous(format: .channelsLast))
        XCTAssertEqual(cl.strides, [12, 1, 6, 2])
        XCTAssertEqual(try cl.elements(), try a.elements(), "same logical values")
        // Memory order is NHWC.
        let memory = Array(UnsafeBufferPointer(start: cl.storage.baseAddress.assumingMemoryBound(to: Int32.self), count: 12))
        XCTAssertEqual(memory, [0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11])
        XCTAssertTrue(try cl.contiguous(format: .channelsLast).sharesStorage(with: cl))
        XCTAssertThrowsError(try iota([2, 3]).contiguous(format: .channelsLast))
    }

    func testCloneAlwaysCopiesAndPreservesDenseStrides() throws {
        let a = try iota([2, 3, 4])
        let p = try a.permuted([2, 0, 1])
        let c = try p.clone()
        XCTAssertFalse(c.sharesStorage(with: a))
        XCTAssertEqual(c.strides, p.strides, "non-overlapping dense strides are kept")
        XCTAssertEqual(try c.elements(), try p.elements())
        let s = try a.sliced(axis: 2, step: 2)
        let cs = try s.clone()
        XCTAssertEqual(cs.strides, [6, 2, 1], "a stepped view clones to row-major")
        XCTAssertFalse(try a.clone().sharesStorage(with: a))
        XCTAssertEqual(try a.sliced(axis: 0, step: -1).clone().strides, [12, 4, 1], "negative strides clone to row-major")
    }

    func testDeepCopyCopiesTheWholeStorageAndKeepsAliasing() throws {
        let a = try iota([4, 4])
        let view = try a.sliced(axis: 0, start: 2, stop: 3)
        let deep = try view.deepCopy()
        XCTAssertEqual(deep.storage.byteCount, a.storage.byteCount, "the whole storage is copied")
        XCTAssertEqual(deep.layout, view.layout, "offset and strides are kept")
        XCTAssertFalse(deep.sharesStorage(with: a))
        XCTAssertEqual(try deep.elements(), [8, 9, 10, 11])

        let memo = DeepCopyMemo()
        let x = try a.transposed(0, 1)
        let x2 = try x.deepCopy(memo: memo)
        let v2 = try view.deepCopy(memo: memo)
        let a2 = try a.deepCopy(memo: memo)
        XCTAssertTrue(x2.sharesStorage(with: v2) && v2.sharesStorage(with: a2), "views of one storage stay views of one new storage")
        XCTAssertFalse(a2.sharesStorage(with: a))
        XCTAssertEqual(memo.storageCount, 1)
        try a2.setElement(-1, at: [2, 1])
        XCTAssertEqual(try v2.element(at: [0, 1]), -1)
        XCTAssertEqual(try x2.element(at: [1, 2]), -1)
    }

    func testCopyBetweenLayoutsWithBroadcastAndNegativeStrides() throws {
        let a = try iota([3, 4])
        let d = try Tensor<Int32>(zerosOf: [4, 3])
        try d.copy(from: try a.transposed(0, 1).sliced(axis: 1, step: -1))
        XCTAssertEqual(try d.elements(), [8, 4, 0, 9, 5, 1, 10, 6, 2, 11, 7, 3])
        let row = try iota([4])
        let b = try Tensor<Int32>(zerosOf: [2, 4])
        try b.copy(from: row)  // broadcast
        XCTAssertEqual(try b.elements(), [0, 1, 2, 3, 0, 1, 2, 3])
    }

    func testOverlappingSourceAndDestinationBehaveAsThroughATemporary() throws {
        let a = try iota([10])
        // a[1:] = a[:-1] — a naive forward loop would smear a[0] across everything.
        try a.sliced(axis: 0, start: 1).copy(from: a.sliced(axis: 0, stop: 9))
        XCTAssertEqual(try a.elements(), [0, 0, 1, 2, 3, 4, 5, 6, 7, 8])
        let m = try iota([3, 3])
        try m.copy(from: m.transposed(0, 1))  // in-place transpose
        XCTAssertEqual(try m.elements(), [0, 3, 6, 1, 4, 7, 2, 5, 8])
        let r = try iota([6])
        try r.copy(from: r.sliced(axis: 0, step: -1))
        XCTAssertEqual(try r.elements(), [5, 4, 3, 2, 1, 0])
    }

    func testBadCopiesThrowAndWriteNothing() throws {
        let a = try iota([2, 3])
        let d = try Tensor<Int32>(zerosOf: [3, 2])
        XCTAssertThrowsError(try d.copy(from: a)) { error in
            guard case RelayoutError.shapeMismatch = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try d.elements(), [0, 0, 0, 0, 0, 0])
        let broadcastDestination = try Tensor<Int32>(zerosOf: [1, 3]).expanded(to: [2, 3])
        XCTAssertThrowsError(try broadcastDestination.copy(from: a)) { error in
            guard case RelayoutError.overlappingDestination = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try Tensor<Int32>(storage: a.storage, layout: Layout(shape: [2, 3], strides: [3, 1], offset: 1))) { error in
            guard case RelayoutError.outOfBounds = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try Tensor<Int32>(storage: a.storage, layout: Layout(shape: [2], strides: [-1], offset: 0)))
        XCTAssertThrowsError(try a.element(at: [2, 0]))
        XCTAssertThrowsError(try a.element(at: [0]))
        XCTAssertThrowsError(try Tensor<Int32>(shape: [2, 2], elements: [1, 2, 3]))
        XCTAssertThrowsError(try Tensor<Int32>(zerosOf: [-1]))
        XCTAssertThrowsError(try Tensor<Int16>(a.raw))
        XCTAssertThrowsError(try RawTensor(shape: [2], elementSize: 3))
        // The check's switch and the public set name the same sizes.
        for size in 0...33 {
            XCTAssertEqual((try? RawTensor.checkElementSize(size)) != nil, RawTensor.supportedElementSizes.contains(size), "\(size) bytes")
        }
        XCTAssertThrowsError(try Storage(byteCount: Int.max)) { error in
            guard case RelayoutError.allocationFailed = error else { return XCTFail("\(error)") }
        }
    }

    func testEveryElementSize() throws {
        func roundTrip<E: BitwiseCopyable & Equatable>(_ values: [E]) throws {
            let t = try Tensor(shape: [2, values.count / 2], elements: values)
            let back = try t.transposed(0, 1).contiguous().transposed(0, 1)
            XCTAssertEqual(try back.elements(), values)
        }
        try roundTrip((0..<8).map { UInt8($0) })
        try roundTrip((0..<8).map { Int16($0) })
        try roundTrip((0..<8).map { Float($0) })
        try roundTrip((0..<8).map { Double($0) })
        try roundTrip((0..<8).map { SIMD2<Double>(Double($0), -Double($0)) })
    }

    func testEmptyAndScalarTensors() throws {
        let e = try Tensor<Float>(zerosOf: [3, 0, 2])
        XCTAssertTrue(e.isContiguous)
        XCTAssertEqual(try e.transposed(0, 2).contiguous().shape, [2, 0, 3])
        let s = try Tensor<Float>(shape: [], elements: [4])
        XCTAssertEqual(try s.clone().elements(), [4])
    }
}
