import XCTest
@testable import Relayout
@testable import RelayoutCLI

/// `relayout bench`, `tune` and `info`: bad arguments are errors, never traps.
final class CommandTests: XCTestCase {
    func run<C: ParsableCommandRunnable>(_ type: C.Type, _ arguments: [String]) throws {
        try C.parseAndRun(arguments)
    }

    func testBenchRejectsBadArguments() throws {
        for arguments in [["--case", "f4:8x8"], ["--case", "x9:8x8:1,0"], ["--case", "f4:8x0:1,0"], ["--case", "f4:8x8:0,0"],
                          ["--suite", "nope"], ["--threads", "0"], ["--repeats", "0"], ["--tile", "8by8"],
                          ["--profile", "/nonexistent/profile.json"]] {
            XCTAssertThrowsError(try run(BenchCommand.self, arguments), "\(arguments)")
        }
        // A tiny valid run completes (output goes to stdout).
        XCTAssertNoThrow(try run(BenchCommand.self, ["--case", "f4:16x8:1,0", "--case", "u1:9:0", "--repeats", "1", "--json"]))
    }

    func testBenchOverridesLastOnlyForTheRun() throws {
        let before = CopyTuning.active
        XCTAssertNoThrow(try run(BenchCommand.self, ["--case", "f4:16x8:1,0", "--repeats", "1", "--json", "--tile", "8x8",
                                                     "--chunk-bytes", "12345", "--streaming-threshold", "1", "--without-vbmi", "--without-avx512"]))
        let after = CopyTuning.active
        XCTAssertEqual(after.tile(elementSize: 4).along, before.tile(elementSize: 4).along)
        XCTAssertEqual(after.tile(elementSize: 4).across, before.tile(elementSize: 4).across)
        XCTAssertEqual(after.chunkBytes, before.chunkBytes)
        XCTAssertEqual(after.streamingThresholdBytes, before.streamingThresholdBytes)
    }

    func testTuneAndInfoRejectBadArguments() throws {
        XCTAssertThrowsError(try run(TuneCommand.self, ["--threads", "0"]))
        XCTAssertThrowsError(try run(TuneCommand.self, ["--repeats", "0"]))
        XCTAssertThrowsError(try run(InfoCommand.self, ["--profile", "/nonexistent/profile.json"]))
        XCTAssertNoThrow(try run(InfoCommand.self, ["--json"]))
    }

    func testBenchCaseParsingAndTheTTCConversion() throws {
        let c = try BenchCase(parsing: "f4:64x224x224x3:0,3,1,2")
        XCTAssertEqual(c.shape, [64, 224, 224, 3]); XCTAssertEqual(c.permutation, [0, 3, 1, 2]); XCTAssertEqual(c.bytes, 64 * 224 * 224 * 3 * 4)
        // A NumPy index after the permutation: the view's bytes, and the name as written.
        let rgb = try BenchCase(parsing: "u1:1080x1920x4:0,1,2[:,::-1,:3]")
        XCTAssertEqual(rgb.index, ":,::-1,:3"); XCTAssertEqual(rgb.bytes, 1080 * 1920 * 3); XCTAssertEqual(rgb.name, "u1:1080x1920x4:0,1,2[:,::-1,:3]")
        XCTAssertEqual(try rgb.layout().shape, [1080, 1920, 3])
        for bad in ["u1:4x4:0,1[", "u1:4x4:0,1[9]", "u1:4x4:0,1[:,:,:]", "u1:4x4[0]:0,1"] {
            XCTAssertThrowsError(try BenchCase(parsing: bad), bad)
        }
        // An index that selects nothing has nothing to time (its ratio to memcpy would be 0 / 0).
        XCTAssertThrowsError(try BenchCase(parsing: "u1:4x4x3:0,1,2[:,:,16:208]")) { error in
            XCTAssertTrue("\(error)".contains("selects no elements"), "\(error)")
        }
        // "3 1 0 2 384 384 355" (column-major: perm 1 0 2, sizes 384 384 355) is NumPy shape (355, 384, 384), axes (0, 2, 1).
        let t = BenchCase(ttc: "3 1 0 2 384 384 355")
        XCTAssertEqual(t.shape, [355, 384, 384])
        XCTAssertEqual(t.permutation, [0, 2, 1])
        XCTAssertEqual(BenchSuite.ttc.cases.count, 57)
        XCTAssertEqual(BenchSuite.small.cases.count, 14)
    }
}

/// Parse-then-run for any of the CLI's commands.
protocol ParsableCommandRunnable {
    static func parseAndRun(_ arguments: [String]) throws
}

extension BenchCommand: ParsableCommandRunnable {
    static func parseAndRun(_ arguments: [String]) throws { let c = try parse(arguments); try c.run() }
}
extension TuneCommand: ParsableCommandRunnable {
    static func parseAndRun(_ arguments: [String]) throws { let c = try parse(arguments); try c.run() }
}
extension InfoCommand: ParsableCommandRunnable {
    static func parseAndRun(_ arguments: [String]) throws { let c = try parse(arguments); try c.run() }
}
