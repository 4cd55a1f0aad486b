import XCTest
@testable import Relayout

final class NpyTests: XCTestCase {
    var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "relayout-npy-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func path(_ name: String) -> String { folder + "/" + name }

    func testRoundTripAndHeaderShape() throws {
        let t = try Tensor<Float>(shape: [2, 3], elements: [1, 2, 3, 4, 5, 6])
        try NpyFile.write(t.transposed(0, 1).raw, dtype: .float32, to: path("a.npy"))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path("a.npy")))
        XCTAssertEqual(bytes.count % 4, 0)
        let headerEnd = Int(bytes[8]) | Int(bytes[9]) << 8 + 10
        XCTAssertEqual(headerEnd % 64, 0, "data is 64-byte aligned as NumPy writes it")
        let back = try NpyFile.read(path: path("a.npy"))
        XCTAssertEqual(back.dtype, .float32)
        XCTAssertTrue(back.tensor.storage.isMapped)
        XCTAssertEqual(try Tensor<Float>(back.tensor).elements(), [1, 4, 2, 5, 3, 6])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["a.npy"], "no temporary left behind")
    }

    func testHeaderParsingVariants() throws {
        XCTAssertEqual(try NpyHeader(parsing: "{'descr': '<f8', 'fortran_order': True, 'shape': (3,), }"),
                       NpyHeader(dtype: .float64, fortranOrder: true, shape: [3]))
        XCTAssertEqual(try NpyHeader(parsing: "{\"shape\": (), \"descr\": \"|b1\", \"fortran_order\": False}"),
                       NpyHeader(dtype: .bool, fortranOrder: false, shape: []))
        XCTAssertEqual(try NpyHeader(parsing: "{'descr': '<c16', 'fortran_order': False, 'shape': (2L, 3L), }").shape, [2, 3])
        for header in [NpyHeader(dtype: .int16, fortranOrder: false, shape: [1]), NpyHeader(dtype: .uint8, fortranOrder: true, shape: [2, 0, 5])] {
            XCTAssertEqual(try NpyHeader(parsing: header.text), header)
        }
    }

    func writeRaw(_ name: String, version: UInt8, header: String, data: [UInt8]) throws {
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0]
        let text = Array(header.utf8)
        for k in 0..<(version == 1 ? 2 : 4) { bytes.append(UInt8(truncatingIfNeeded: text.count >> (8 * k))) }
        try Data(bytes + text + data).write(to: URL(fileURLWithPath: path(name)))
    }

    func testFortranOrderAndVersions2And3() throws {
        let data: [UInt8] = [1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0]
        for version: UInt8 in [1, 2, 3] {
            try writeRaw("f\(version).npy", version: version, header: "{'descr': '<i2', 'fortran_order': True, 'shape': (2, 3), }\n", data: data)
            let array = try NpyFile.read(path: path("f\(version).npy"))
            XCTAssertEqual(array.tensor.strides, [1, 2])
            XCTAssertEqual(try Tensor<Int16>(array.tensor).elements(), [1, 3, 5, 2, 4, 6])
        }
    }

    func expectIOError(_ name: String, containing fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try NpyFile.read(path: path(name)), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(fragment), "\(error) lacks '\(fragment)'", file: file, line: line)
        }
    }

    func testBadFilesThrowClearErrors() throws {
        expectIOError("missing.npy", containing: "cannot open")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path("tiny.npy")))
        expectIOError("tiny.npy", containing: "truncated")
        try Data(repeating: 65, count: 100).write(to: URL(fileURLWithPath: path("text.npy")))
        expectIOError("text.npy", containing: "bad magic")
        try writeRaw("v9.npy", version: 9, header: "{}", data: [])
        expectIOError("v9.npy", containing: "version 9")
        try writeRaw("short.npy", version: 1, header: "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", data: [0, 0, 0, 0])
        expectIOError("short.npy", containing: "truncated")
        try writeRaw("dtype.npy", version: 1, header: "{'descr': '<U8', 'fortran_order': False, 'shape': (1,), }", data: [])
        expectIOError("dtype.npy", containing: "dtype '<U8'")
        try writeRaw("big.npy", version: 1, header: "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0])
        expectIOError("big.npy", containing: "big-endian")
        try writeRaw("struct.npy", version: 1, header: "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0])
        expectIOError("struct.npy", containing: "structured")
        try writeRaw("garbled.npy", version: 1, header: "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }", data: [0, 0, 0, 0])
        expectIOError("garbled.npy", containing: "malformed")
        try writeRaw("negative.npy", version: 1, header: "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", data: [])
        expectIOError("negative.npy", containing: "bad size")
        try writeRaw("hlen.npy", version: 1, header: "{'descr'", data: [])
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path("hlen.npy")))
        bytes[8] = 200
        try bytes.write(to: URL(fileURLWithPath: path("hlen.npy")))
        expectIOError("hlen.npy", containing: "truncated")
        XCTAssertThrowsError(try NpyFile.read(path: folder), "a folder is not a file")
    }

    func testFailedWriteLeavesNoFile() throws {
        let t = try Tensor<Float>(shape: [2], elements: [1, 2])
        XCTAssertThrowsError(try NpyFile.write(t.raw, dtype: .float32, to: path("no/such/folder/x.npy")))
        XCTAssertThrowsError(try NpyFile.write(t.raw, dtype: .float64, to: path("x.npy")))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), [])
    }
}
