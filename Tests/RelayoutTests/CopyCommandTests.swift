import XCTest
@testable import Relayout
@testable import RelayoutCLI

/// `relayout copy` end to end, in process: argument parsing, reading, the copy, writing.
final class CopyCommandTests: XCTestCase {
    var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "relayout-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func path(_ name: String) -> String { folder + "/" + name }

    func runCopy(_ arguments: [String]) throws {
        let command = try CopyCommand.parse(arguments)
        try command.run()
    }

    func writeInput(shape: [Int]) throws {
        let t = try Tensor<Int32>(shape: shape, elements: (0..<shape.reduce(1, *)).map(Int32.init))
        try NpyFile.write(t.raw, dtype: .int32, to: path("in.npy"))
    }

    func testPermuteSliceAndChannelsLast() throws {
        try writeInput(shape: [2, 3, 4])
        try runCopy([path("in.npy"), path("out.npy"), "--permute", "2,0,1", "--slice", "::-2,1,:", "--threads", "2"])
        let out = try NpyFile.read(path: path("out.npy"))
        XCTAssertEqual(out.tensor.shape, [2, 3])
        XCTAssertEqual(try Tensor<Int32>(out.tensor).elements(), [15, 19, 23, 13, 17, 21])
        try writeInput(shape: [1, 2, 2, 2])
        try runCopy([path("in.npy"), path("cl.npy"), "--format", "channels-last"])
        let cl = try NpyFile.read(path: path("cl.npy"))
        XCTAssertEqual(cl.tensor.shape, [1, 2, 2, 2])
        XCTAssertEqual(try Tensor<Int32>(cl.tensor).elements(), [0, 4, 1, 5, 2, 6, 3, 7])
    }

    func testEveryBadInputFailsWithoutWritingOutput() throws {
        try writeInput(shape: [2, 3])
        let cases: [[String]] = [
            ["--threads", "0"],
            ["--permute", "0,0"],
            ["--permute", "0"],
            ["--permute", "x,1"],
            ["--slice", "::0"],
            ["--slice", "5"],
            ["--slice", ":,:,:"],
            ["--format", "sideways"],
            ["--format", "channels-last"],
        ]
        for extra in cases {
            XCTAssertThrowsError(try runCopy([path("in.npy"), path("out.npy")] + extra), "\(extra)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("out.npy")), "\(extra) left an output")
        }
        XCTAssertThrowsError(try runCopy([path("missing.npy"), path("out.npy")]))
        try Data([0x93, 0x4E, 0x55]).write(to: URL(fileURLWithPath: path("bad.npy")))
        XCTAssertThrowsError(try runCopy([path("bad.npy"), path("out.npy")]))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).sorted(), ["bad.npy", "in.npy"])
    }

    /// A slice of the NumPy differential test (Tests/differential/differential.py runs 1,000 or more
    /// through the binary); skipped where python3 with NumPy is missing.
    func testDifferentialAgainstNumPy() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("differential/differential.py").path
        func python(_ arguments: [String]) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script] + arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, output)
        }
        let (status, output) = try python(["--generate", folder, "--cases", "300", "--seed", "7"])
        guard status == 0 else { throw XCTSkip("python3 with NumPy unavailable: \(output.prefix(200))") }
        struct Case: Decodable { let input: String; let output: String; let args: [String] }
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: URL(fileURLWithPath: path("manifest.json"))))
        XCTAssertEqual(cases.count, 300)
        for c in cases { try runCopy([c.input, c.output] + c.args) }
        let (checkStatus, checkOutput) = try python(["--check", folder])
        XCTAssertEqual(checkStatus, 0, checkOutput)
        XCTAssertTrue(checkOutput.contains("300 passed, 0 failed"), checkOutput)
    }
}
