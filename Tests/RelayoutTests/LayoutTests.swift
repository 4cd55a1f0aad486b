import XCTest
@testable import Relayout

final class LayoutTests: XCTestCase {
    func testRowMajorAndContiguityRules() throws {
        let a = try Layout.rowMajor([2, 3, 4])
        XCTAssertEqual(a.strides, [12, 4, 1])
        XCTAssertTrue(a.isContiguous)
        // Size-1 dimensions ignore their stride.
        XCTAssertTrue(try Layout(shape: [2, 1, 4], strides: [4, 999, 1]).isContiguous)
        // Empty views are contiguous whatever their strides.
        XCTAssertTrue(try Layout(shape: [0, 3], strides: [7, 5]).isContiguous)
        XCTAssertFalse(try a.transposed(0, 2).isContiguous)
        XCTAssertTrue(try a.sliced(axis: 0, start: 0, stop: 1).isContiguous, "a row slice stays contiguous")
        XCTAssertFalse(try a.sliced(axis: 2, step: 2).isContiguous)
        XCTAssertFalse(try a.sliced(axis: 0, step: -1).isContiguous)
        XCTAssertEqual(try Layout.columnMajor([2, 3, 4]).strides, [1, 2, 6])
    }

    func testChannelsLastAndDense() throws {
        let nhwc = try Layout.channelsLast([2, 3, 4, 5])
        XCTAssertEqual(nhwc.strides, [60, 1, 15, 3])
        XCTAssertTrue(nhwc.isChannelsLastContiguous)
        XCTAssertFalse(nhwc.isContiguous)
        XCTAssertTrue(nhwc.isNonOverlappingAndDense)
        XCTAssertEqual(try Layout.channelsLast([2, 3, 4, 5, 6]).strides, [360, 1, 90, 18, 3])
        XCTAssertFalse(try Layout.rowMajor([2, 3, 4, 5]).isChannelsLastContiguous)
        XCTAssertThrowsError(try Layout.channelsLast([2, 3]))
        XCTAssertFalse(try Layout.rowMajor([4, 4]).sliced(axis: 1, step: 2).isNonOverlappingAndDense)
        XCTAssertTrue(try Layout.rowMajor([4, 5, 6]).permuted([2, 0, 1]).isNonOverlappingAndDense)
    }

    func testSpanWithNegativeAndZeroStrides() throws {
        let a = try Layout.rowMajor([3, 4])
        XCTAssertEqual(a.span(), 0...11)
        let reversed = try a.sliced(axis: 1, step: -1)
        XCTAssertEqual(reversed.offset, 3)
        XCTAssertEqual(reversed.strides, [4, -1])
        XCTAssertEqual(reversed.span(), 0...11)
        XCTAssertEqual(try a.selected(axis: 0, index: -1).span(), 8...11)
        XCTAssertEqual(try Layout.rowMajor([1, 4]).expanded(to: [5, 4]).span(), 0...3)
        XCTAssertNil(try Layout.rowMajor([0, 4]).span())
    }

    func testSlicesFollowPython() throws {
        // Compare with Python's slice.indices for many bounds and steps.
        let length = 7
        let reference: [(Int?, Int?, Int, [Int])] = [
            (nil, nil, 1, [0, 1, 2, 3, 4, 5, 6]), (nil, nil, -1, [6, 5, 4, 3, 2, 1, 0]),
            (1, 5, 2, [1, 3]), (-3, nil, 1, [4, 5, 6]), (5, 1, -2, [5, 3]), (100, nil, -3, [6, 3, 0]),
            (-100, 3, 1, [0, 1, 2]), (3, 3, 1, []), (2, 5, -1, []), (nil, -100, -1, [6, 5, 4, 3, 2, 1, 0]),
        ]
        for (start, stop, step, expected) in reference {
            let r = ResolvedSlice(start: start, stop: stop, step: step, length: length)
            XCTAssertEqual((0..<r.count).map { r.start + $0 * r.step }, expected, "\(String(describing: start)):\(String(describing: stop)):\(step)")
        }
        XCTAssertEqual(try IndexSpec.parseList("::2, 1:5 ,-1,::-3"), [
            .slice(start: nil, stop: nil, step: 2), .slice(start: 1, stop: 5, step: 1), .index(-1), .slice(start: nil, stop: nil, step: -3),
        ])
        XCTAssertThrowsError(try IndexSpec.parseList("::0"))
        XCTAssertThrowsError(try IndexSpec.parseList("1:2:3:4"))
        XCTAssertThrowsError(try IndexSpec.parseList("a"))
    }

    func testViewAlgebra() throws {
        let a = try Layout.rowMajor([2, 3, 4])
        let p = try a.permuted([2, 0, 1])
        XCTAssertEqual(p.shape, [4, 2, 3]); XCTAssertEqual(p.strides, [1, 12, 4])
        XCTAssertEqual(try a.permuted([-1, 0, 1]), p)
        let e = try Layout.rowMajor([3, 1]).expanded(to: [2, 3, 5])
        XCTAssertEqual(e.shape, [2, 3, 5]); XCTAssertEqual(e.strides, [0, 1, 0])
        XCTAssertEqual(try a.unsqueezed(at: 1).shape, [2, 1, 3, 4])
        XCTAssertEqual(try a.unsqueezed(at: -1).shape, [2, 3, 4, 1])
        XCTAssertEqual(try Layout.rowMajor([1, 3, 1]).squeezed().shape, [3])
        XCTAssertEqual(try Layout.rowMajor([1, 3, 1]).squeezed(axis: 2).shape, [1, 3])
        XCTAssertEqual(try a.indexed([.index(1), .slice(start: nil, stop: nil, step: -1)]).shape, [3, 4])
    }

    func testReshapeWithoutCopyAndWhenACopyIsNeeded() throws {
        let a = try Layout.rowMajor([2, 3, 4])
        XCTAssertEqual(try a.reshaped([6, 4]).strides, [4, 1])
        XCTAssertEqual(try a.reshaped([-1]).shape, [24])
        XCTAssertEqual(try a.reshaped([2, 12]).strides, [12, 1])
        // A stepped slice can still merge its outer dimensions.
        let stepped = try Layout.rowMajor([4, 6]).sliced(axis: 1, step: 2)
        XCTAssertEqual(try stepped.reshaped([2, 2, 3]).strides, [12, 6, 2])
        let t = try a.transposed(0, 2)
        XCTAssertThrowsError(try t.reshaped([24])) { error in
            guard case RelayoutError.reshapeNeedsCopy = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try t.reshaped([4, 3, 2, 1]).shape, [4, 3, 2, 1])
        XCTAssertThrowsError(try a.reshaped([5, 5]))
        XCTAssertThrowsError(try a.reshaped([-1, -1]))
    }

    func testBadLayoutsAndArgumentsThrow() {
        XCTAssertThrowsError(try Layout(shape: [2, -1], strides: [1, 1]))
        XCTAssertThrowsError(try Layout(shape: [2, 3], strides: [1]))
        XCTAssertThrowsError(try Layout(shape: [Int.max, 4], strides: [1, 1]))
        XCTAssertThrowsError(try Layout(shape: [3, 3], strides: [Int.max / 2, 1]))
        let a = try! Layout.rowMajor([2, 3])
        XCTAssertThrowsError(try a.permuted([0, 0]))
        XCTAssertThrowsError(try a.permuted([0]))
        XCTAssertThrowsError(try a.permuted([0, 2]))
        XCTAssertThrowsError(try a.sliced(axis: 0, step: 0))
        XCTAssertThrowsError(try a.sliced(axis: 2))
        XCTAssertThrowsError(try a.selected(axis: 1, index: 3))
        XCTAssertThrowsError(try a.selected(axis: 1, index: -4))
        XCTAssertThrowsError(try a.expanded(to: [2, 4]))
        XCTAssertThrowsError(try a.expanded(to: [3]))
        XCTAssertThrowsError(try a.squeezed(axis: 0))
        XCTAssertThrowsError(try a.unsqueezed(at: 4))
        XCTAssertThrowsError(try a.indexed([.all, .all, .all]))
    }

    func testSelfOverlapDetection() throws {
        XCTAssertFalse(try Layout.rowMajor([3, 4]).writesSomeElementTwice())
        XCTAssertFalse(try Layout.rowMajor([3, 4]).permuted([1, 0]).sliced(axis: 0, step: -2).writesSomeElementTwice())
        XCTAssertTrue(try Layout.rowMajor([1, 4]).expanded(to: [3, 4]).writesSomeElementTwice())
        XCTAssertTrue(try Layout(shape: [3, 3], strides: [1, 1]).writesSomeElementTwice())
        // Interleaved strides that never collide: elements 0,3,2,5,4,7.
        XCTAssertFalse(try Layout(shape: [3, 2], strides: [2, 3]).writesSomeElementTwice())
        XCTAssertTrue(try Layout(shape: [3, 2], strides: [2, 4]).writesSomeElementTwice())
        XCTAssertFalse(try Layout(shape: [0, 2], strides: [0, 0]).writesSomeElementTwice())
    }
}
