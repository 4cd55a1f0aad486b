import XCTest
@testable import Relayout

/// A user type holding tensors.
struct LayerState: DeepCopyable, Equatable {
    var name: String
    var weight: Tensor<Float>
    var bias: Tensor<Float>?
    func mapTensors(_ transform: (RawTensor) throws -> RawTensor) throws -> LayerState {
        LayerState(name: name, weight: try weight.mapTensors(transform), bias: try bias.mapTensors(transform))
    }
    static func == (a: LayerState, b: LayerState) -> Bool {
        a.name == b.name && (try? a.weight.elements()) == (try? b.weight.elements()) && (try? a.bias?.elements()) == (try? b.bias?.elements())
    }
}

final class DeepCopyTests: XCTestCase {
    func iota(_ shape: [Int]) throws -> Tensor<Float> {
        try Tensor(shape: shape, elements: (0..<shape.reduce(1, *)).map(Float.init))
    }

    func testAliasingSurvivesACollectionCopy() throws {
        let base = try iota([8, 8])
        let row = try base.sliced(axis: 0, start: 2, stop: 3)
        let overlapping = try base.sliced(axis: 0, start: 1, stop: 4)   // overlaps `row`
        let transposed = try base.transposed(0, 1)
        let other = try iota([3])
        let collection: [String: [Tensor<Float>]] = ["a": [base, row], "b": [overlapping, transposed, base], "c": [other]]
        let copy = try deepCopy(collection, threads: 3)
        let all = copy.values.flatMap { $0 }
        let copiedBase = copy["a"]![0]
        for t in [copy["a"]![1], copy["b"]![0], copy["b"]![1], copy["b"]![2]] {
            XCTAssertTrue(t.sharesStorage(with: copiedBase), "views of one storage share one new storage")
        }
        XCTAssertFalse(copy["c"]![0].sharesStorage(with: copiedBase))
        XCTAssertFalse(all.contains { $0.sharesStorage(with: base) }, "nothing is shared with the originals")
        XCTAssertEqual(copy["b"]![1].layout, transposed.layout, "offsets and strides kept")
        XCTAssertEqual(copiedBase.storage.byteCount, base.storage.byteCount, "whole storage by default")
        XCTAssertEqual(try copy["b"]![0].elements(), try overlapping.elements())
        try copiedBase.setElement(-1, at: [2, 5])
        XCTAssertEqual(try copy["a"]![1].element(at: [0, 5]), -1, "a write through one copy shows through its aliases")
        XCTAssertEqual(try copy["b"]![1].element(at: [5, 2]), -1)
        XCTAssertEqual(try base.element(at: [2, 5]), 21, "the original is untouched")
    }

    func testCompactingCopiesOnlyWhatTheViewsReach() throws {
        let big = try iota([1000, 16])                      // 64,000 bytes
        let first = try big.sliced(axis: 0, start: 0, stop: 2)
        let last = try big.sliced(axis: 0, start: 998)
        let alsoLast = try big.sliced(axis: 0, start: 999).transposed(0, 1)
        let copy = try deepCopy([first, last, alsoLast], compacting: true)
        XCTAssertTrue(copy[0].sharesStorage(with: copy[1]) && copy[1].sharesStorage(with: copy[2]))
        XCTAssertLessThan(copy[0].storage.byteCount, 64 * 4 + 64, "two rows and two rows, plus alignment")
        XCTAssertEqual(try copy[0].elements(), try first.elements())
        XCTAssertEqual(try copy[1].elements(), try last.elements())
        XCTAssertEqual(try copy[2].elements(), try alsoLast.elements())
        XCTAssertEqual(copy[2].strides, alsoLast.strides)
        try copy[1].setElement(-5, at: [1, 3])
        XCTAssertEqual(try copy[2].element(at: [3, 0]), -5, "overlapping views still alias after compacting")
        // Different element types viewing one storage keep their alignment.
        let bytes = try Tensor<UInt8>(RawTensor(storage: big.storage, layout: Layout(shape: [10], strides: [1], offset: 4 * 16 * 500 + 3), elementSize: 1))
        let floats = try big.sliced(axis: 0, start: 700, stop: 701)
        let mixed = try deepCopy([bytes.raw, floats.raw], compacting: true)
        XCTAssertEqual(try Tensor<UInt8>(mixed[0]).elements(), try bytes.elements())
        XCTAssertEqual(try Tensor<Float>(mixed[1]).elements(), try floats.elements())
    }

    func testUserTypesAndTheSameTensorTwice() throws {
        let shared = try iota([4, 4])
        let layers = [LayerState(name: "a", weight: shared, bias: try shared.selected(axis: 0, index: 0)),
                      LayerState(name: "b", weight: shared, bias: nil)]
        let copy = try deepCopy(layers)
        XCTAssertEqual(copy, layers)
        XCTAssertTrue(copy[0].weight.sharesStorage(with: copy[1].weight))
        XCTAssertTrue(copy[0].bias!.sharesStorage(with: copy[1].weight))
        XCTAssertNil(copy[1].bias)
        XCTAssertFalse(copy[0].weight.sharesStorage(with: shared))
    }

    func testManySmallAndAFewLargeTensorsInOneJob() throws {
        var tensors = (0..<500).map { k in try! iota([1 + k % 7, 3]) }
        tensors.append(try iota([512, 1024]))                   // 2 MiB: several pieces
        tensors.append(try tensors[500].transposed(0, 1))
        let copy = try deepCopy(tensors, threads: 4)
        for (a, b) in zip(copy, tensors) { XCTAssertEqual(try a.elements(), try b.elements()) }
        XCTAssertTrue(copy[500].sharesStorage(with: copy[501]))
        XCTAssertEqual(try deepCopy([Tensor<Float>]()).count, 0)
        let empty = try Tensor<Float>(zerosOf: [0, 3])
        XCTAssertEqual(try deepCopy([empty], compacting: true)[0].shape, [0, 3])
    }
}
