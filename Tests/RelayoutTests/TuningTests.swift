import XCTest
@testable import Relayout
import CRelayoutKernels

/// Scripted timings: the tuner's selection logic without a real clock.
struct FakeMeasurer: TuningMeasurer {
    var copySeconds: (TuningCase, CopyTuning, Int) -> Double
    var calls = 0
    var freshCalls = 0

    mutating func measure(_ tuningCase: TuningCase, tuning: CopyTuning, threads: Int) throws -> TuningSample {
        calls += 1
        return TuningSample(bytes: tuningCase.payloadBytes, copySeconds: copySeconds(tuningCase, tuning, threads), memcpySeconds: 1.0)
    }

    mutating func measureFresh(_ tuningCase: TuningCase, tunings: [CopyTuning], threads: Int) throws -> [TuningSample] {
        freshCalls += 1
        return try tunings.map { try measure(tuningCase, tuning: $0, threads: threads) }
    }
}

final class TuningTests: XCTestCase {
    var folder: String!
    let fingerprint = MachineFingerprint(cpuModel: "Test CPU", coreCount: 2, numaNodes: 1, caches: .init(l1d: 32768, l2: 1 << 20, l3: 32 << 20))

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "relayout-tuning-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    func profile(chunkBytes: Int, fingerprint: MachineFingerprint? = nil) -> TuningProfile {
        var tuning = CopyTuning.defaults
        tuning.chunkBytes = chunkBytes
        return TuningProfile(fingerprint: fingerprint ?? self.fingerprint, createdAt: "2026-11-27T00:00:00Z", quick: true, tuning: tuning,
                             measurements: [TuningMeasurement(knob: "chunkBytes", candidate: "\(chunkBytes)", gbps: 20, ratio: 0.8, chosen: true)])
    }

    func testStreamingThresholdDefaultsFollowTheCPU() {
        XCTAssertEqual(CopyTuning.streamingThreshold(forCPUModel: "Intel(R) Xeon(R) Processor"), 4 << 20)
        XCTAssertEqual(CopyTuning.streamingThreshold(forCPUModel: "Intel(R) Xeon(R) Platinum 8592+"), 4 << 20)
        XCTAssertEqual(CopyTuning.streamingThreshold(forCPUModel: "AMD EPYC 9R14 96-Core Processor"), 16 << 20)
        XCTAssertEqual(CopyTuning.streamingThreshold(forCPUModel: "unknown"), 16 << 20)
        XCTAssertEqual(CopyTuning.defaults.streamingThresholdBytes, CopyTuning.streamingThreshold(forCPUModel: Topology.current().cpuModel))
    }

    func testProfileRoundTrip() throws {
        let original = profile(chunkBytes: 12345)
        try original.write(to: folder + "/nested/profile.json")
        XCTAssertEqual(try TuningProfile.read(path: folder + "/nested/profile.json"), original)
        let text = try String(contentsOfFile: folder + "/nested/profile.json", encoding: .utf8)
        XCTAssertTrue(text.contains("\"4\""), "tiles are keyed by element size as strings")
    }

    func testProfilesWrittenBeforeANewKnobStillLoad() throws {
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(CopyTuning.defaults)) as! [String: Any]
        object.removeValue(forKey: "freshChunkBytes")
        object.removeValue(forKey: "freshPopulators")
        object.removeValue(forKey: "wideTransposes")
        object.removeValue(forKey: "stagedTransposesAtAnyStride")
        object.removeValue(forKey: "followsSourceRows")
        // Before runTileAreaBytes there was runTileBytes, a per-side stretch: ignored, default area.
        object.removeValue(forKey: "runTileAreaBytes")
        object["runTileBytes"] = 8192
        let decoded = try JSONDecoder().decode(CopyTuning.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertEqual(decoded, .defaults)
    }

    func testProfilesWithNonPositiveKnobsAreRejected() throws {
        for key in ["freshPopulators", "freshChunkBytes", "chunkBytes"] {
            var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(CopyTuning.defaults)) as! [String: Any]
            object[key] = 0
            XCTAssertThrowsError(try JSONDecoder().decode(CopyTuning.self, from: JSONSerialization.data(withJSONObject: object)), key)
        }
    }

    func testLookupOrder() throws {
        try profile(chunkBytes: 1 << 12).write(to: folder + "/flag.json")
        try profile(chunkBytes: 2 << 12).write(to: folder + "/env.json")
        try profile(chunkBytes: 3 << 12).write(to: folder + "/xdg/relayout/profile.json")
        try profile(chunkBytes: 4 << 12).write(to: folder + "/home/.cache/relayout/profile.json")
        let environment = ["RELAYOUT_PROFILE": folder + "/env.json", "XDG_CACHE_HOME": folder + "/xdg", "HOME": folder + "/home"]
        func resolve(_ flag: String?, _ env: [String: String]) throws -> ProfileResolution {
            try TuningProfile.resolve(flag: flag, environment: env, fingerprint: fingerprint)
        }
        var r = try resolve(folder + "/flag.json", environment)
        XCTAssertEqual(r.source, .flag); XCTAssertEqual(r.tuning.chunkBytes, 1 << 12)
        r = try resolve(nil, environment)
        XCTAssertEqual(r.source, .environment); XCTAssertEqual(r.tuning.chunkBytes, 2 << 12)
        r = try resolve(nil, environment.filter { $0.key != "RELAYOUT_PROFILE" })
        XCTAssertEqual(r.source, .cache); XCTAssertEqual(r.tuning.chunkBytes, 3 << 12); XCTAssertEqual(r.path, folder + "/xdg/relayout/profile.json")
        r = try resolve(nil, ["HOME": folder + "/home"])
        XCTAssertEqual(r.source, .cache); XCTAssertEqual(r.tuning.chunkBytes, 4 << 12)
        r = try resolve(nil, ["HOME": folder + "/nobody"])
        XCTAssertEqual(r.source, .defaults); XCTAssertNil(r.warning); XCTAssertEqual(r.tuning, .defaults)
    }

    func testForeignAndCorruptProfilesFallBackWithOneWarning() throws {
        var other = fingerprint
        other.cpuModel = "Another CPU"
        try profile(chunkBytes: 8192, fingerprint: other).write(to: folder + "/foreign.json")
        var r = try TuningProfile.resolve(flag: folder + "/foreign.json", environment: [:], fingerprint: fingerprint)
        XCTAssertEqual(r.source, .defaults); XCTAssertEqual(r.tuning, .defaults)
        XCTAssertTrue(r.warning?.contains("another machine") == true, r.warning ?? "no warning")

        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: folder + "/corrupt.json"))
        r = try TuningProfile.resolve(flag: nil, environment: ["RELAYOUT_PROFILE": folder + "/corrupt.json"], fingerprint: fingerprint)
        XCTAssertEqual(r.source, .defaults)
        XCTAssertTrue(r.warning?.contains("corrupt") == true, r.warning ?? "no warning")

        // A structurally valid file with impossible values is corrupt too.
        var text = try String(decoding: JSONEncoder().encode(profile(chunkBytes: 4096)), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"chunkBytes\":4096", with: "\"chunkBytes\":-1")
        try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/negative.json"))
        r = try TuningProfile.resolve(flag: folder + "/negative.json", environment: [:], fingerprint: fingerprint)
        XCTAssertEqual(r.source, .defaults); XCTAssertNotNil(r.warning)

        r = try TuningProfile.resolve(flag: nil, environment: ["RELAYOUT_PROFILE": folder + "/missing.json"], fingerprint: fingerprint)
        XCTAssertEqual(r.source, .defaults)
        XCTAssertTrue(r.warning?.contains("does not exist") == true)
        XCTAssertThrowsError(try TuningProfile.resolve(flag: folder + "/missing.json", environment: [:], fingerprint: fingerprint))
        XCTAssertThrowsError(try TuningProfile.read(path: folder + "/missing.json"))
    }

    func testTheDirectCopyLimitFollowsTheActiveTuning() throws {
        // Copies decide on the direct loop from a copy of the active tuning's directCopyBytes kept
        // beside it: setting the tuning must move that too, both ways.
        let before = CopyTuning.active
        defer { CopyTuning.active = before }
        var tuning = before
        tuning.directCopyBytes = 100
        CopyTuning.active = tuning
        XCTAssertTrue(CopyTuning.activeTakesDirectCopy(bytes: 100))
        XCTAssertFalse(CopyTuning.activeTakesDirectCopy(bytes: 101))
        tuning.directCopyBytes = 0
        CopyTuning.active = tuning
        XCTAssertFalse(CopyTuning.activeTakesDirectCopy(bytes: 1))
        // A copy still gives the right result either way (through a plan here).
        let source = try RawTensor(shape: [8, 8], elementSize: 4)
        for i in 0..<64 { source.storage.baseAddress.storeBytes(of: UInt32(i), toByteOffset: 4 * i, as: UInt32.self) }
        let view = try source.permuted([1, 0])
        let destination = try RawTensor(shape: [8, 8], elementSize: 4)
        try destination.copy(from: view)
        XCTAssertEqual(destination.storage.baseAddress.load(fromByteOffset: 4, as: UInt32.self), 8)
        CopyTuning.active = before
        XCTAssertEqual(CopyTuning.activeTakesDirectCopy(bytes: before.directCopyBytes), true)
        XCTAssertEqual(CopyTuning.activeTakesDirectCopy(bytes: before.directCopyBytes + 1), false)
    }

    func testChoiceRuleAndThresholds() {
        XCTAssertEqual(Tuner.choose(scores: [1.0, 1.01, 0.9], incumbent: 0, margin: 0.02), 0, "a win inside the margin keeps the incumbent")
        XCTAssertEqual(Tuner.choose(scores: [1.0, 1.05, 0.9], incumbent: 0, margin: 0.02), 1)
        XCTAssertEqual(Tuner.choose(scores: [0.5, 0.9, 0.7], incumbent: 2, margin: 0.02), 1)
        XCTAssertEqual(Tuner.threshold(sizes: [1, 2, 4, 8], wins: [false, true, true, true]), 2)
        XCTAssertEqual(Tuner.threshold(sizes: [1, 2, 4, 8], wins: [true, false, true, true]), 4, "wins must hold at every larger size")
        XCTAssertNil(Tuner.threshold(sizes: [1, 2, 4, 8], wins: [true, true, true, false]))
    }

    func testTunerPicksTheMeasuredWinners() throws {
        var tuner = Tuner(quick: true, threads: 2, fingerprint: fingerprint)
        tuner.caseBytes = 1 << 16
        let fastTile = CopyTuning.Tile(along: 1024 / 4, across: 1024 / 4)
        var fake = FakeMeasurer { tuningCase, tuning, threads in
            var seconds = 1.0
            // 4-byte tiles: 256x256 elements is 20 % faster; everything else equal.
            if tuningCase.elementSize == 4, tuning.tiles[4] == fastTile { seconds *= 0.8 }
            // A 1 % "win" for 1-byte 2048x2048 tiles: noise, inside the margin.
            if tuningCase.elementSize == 1, tuning.tiles[1]?.along == 2048 { seconds *= 0.99 }
            if tuning.runTileAreaBytes == 64 << 10 { seconds *= 0.9 }
            if tuning.chunkBytes == 1 << 20 { seconds *= 0.95 }
            if tuning.freshPopulators == 1 { seconds *= 0.9 }
            if !tuning.wideTransposes, tuningCase.permutation == [1, 0] { seconds *= 0.9 }
            // Work items by the destination: faster on the 6-D case only, but by more than the margin overall.
            if !tuning.followsSourceRows, tuningCase.shape.count == 6 { seconds *= 0.8 }
            // Streaming wins from 4 MiB; two threads win from 64 KiB.
            if tuning.streamingThresholdBytes == 0 { seconds *= tuningCase.payloadBytes >= 4 << 20 ? 0.7 : 1.2 }
            if tuning.inlineThresholdBytes == Int.max { seconds *= tuningCase.payloadBytes >= 64 << 10 ? 2 : 0.5 }
            return seconds
        }
        let ttc = Tuner.ttcCases(quick: true, specifications: ttcSpecifications).map { c -> TuningCase in
            var small = c
            small.shape[0] = 1
            return small
        }
        var reports = [TuningProgress]()
        let profile = try tuner.run(measurer: &fake, ttc: ttc) { reports.append($0) }
        XCTAssertEqual(profile.tuning.tiles[4], fastTile)
        XCTAssertEqual(profile.tuning.tiles[1], CopyTuning.defaults.tiles[1], "a win inside the margin does not move the tile")
        XCTAssertEqual(profile.tuning.runTileAreaBytes, 64 << 10)
        XCTAssertEqual(profile.tuning.chunkBytes, 1 << 20)
        XCTAssertEqual(profile.tuning.freshPopulators, 1)
        XCTAssertFalse(profile.tuning.wideTransposes, "the row walk measured faster on the 2-D cases")
        XCTAssertFalse(profile.tuning.followsSourceRows, "items by the destination measured faster")
        XCTAssertTrue(profile.measurements.contains { $0.knob == "followsSourceRows" && $0.candidate == "off" && $0.chosen })
        XCTAssertEqual(fake.freshCalls, 2, "candidates 1 and 2 (2 threads) measured together on each of the two fresh cases")
        XCTAssertEqual(profile.tuning.streamingThresholdBytes, 4 << 20)
        XCTAssertEqual(profile.tuning.inlineThresholdBytes, 64 << 10)
        XCTAssertEqual(profile.fingerprint, fingerprint)
        XCTAssertGreaterThanOrEqual(profile.tunedRatio!, profile.defaultsRatio!)
        XCTAssertEqual(reports.last?.done, reports.last?.total, "progress reaches 100 %")
        XCTAssertEqual(fake.calls, reports.count, "one progress step per case and candidate")
        XCTAssertTrue(profile.measurements.contains { $0.knob == "tile.4" && $0.chosen && $0.candidate == "256x256" })
    }

    func testTheStagedKnobIsSweptOnlyWithoutTheAVX512Walks() throws {
        // Scripted: the staged walk at any stride 10 % faster on the 2-D cases. Where the AVX-512
        // walks run it would run nowhere, so the tuner leaves the knob alone; without them it
        // measures and takes it. Progress still counts every measurement.
        func tune() throws -> (TuningProfile, FakeMeasurer, [TuningProgress]) {
            var tuner = Tuner(quick: true, threads: 2, fingerprint: fingerprint)
            tuner.caseBytes = 1 << 16
            var fake = FakeMeasurer { tuningCase, tuning, _ in
                tuning.stagedTransposesAtAnyStride && tuningCase.permutation == [1, 0] ? 0.9 : 1.0
            }
            var reports = [TuningProgress]()
            let ttc = Tuner.ttcCases(quick: true, specifications: ttcSpecifications).map { c -> TuningCase in
                var small = c
                small.shape[0] = 1
                return small
            }
            let profile = try tuner.run(measurer: &fake, ttc: ttc) { reports.append($0) }
            return (profile, fake, reports)
        }
        for walks in [true, false] {
            Kernels.allowAVX512Transposes(walks)
            defer { Kernels.allowAVX512Transposes(true) }
            let (profile, fake, reports) = try tune()
            let swept = rl_avx512_walks() == 0
            XCTAssertEqual(profile.measurements.contains { $0.knob == "stagedTransposesAtAnyStride" }, swept, "walks allowed: \(walks)")
            XCTAssertEqual(profile.tuning.stagedTransposesAtAnyStride, swept, "walks allowed: \(walks)")
            XCTAssertEqual(fake.calls, reports.count)
            XCTAssertEqual(reports.last?.done, reports.last?.total)
        }
    }

    func testTheInlineThresholdIsWhereTheWorkersWinFromOn() throws {
        // Scripted: two threads win from 1.2 MiB (the 1.25 MiB case is a 572² f4 transpose of
        // 1.25 MB, where source and destination outgrow one core's L2) and lose below; then
        // nowhere, which leaves 2 MiB; then everywhere (the smallest size). Also in quick mode.
        XCTAssertEqual(CopyTuning.defaults.inlineThresholdBytes, 1280 << 10)
        for (quick, winsFrom, expected) in [(false, 1200 << 10, 1280 << 10), (true, 1200 << 10, 1280 << 10), (false, Int.max, 2 << 20), (false, 0, 8 << 10)] {
            var tuner = Tuner(quick: quick, threads: 2, fingerprint: fingerprint)
            tuner.caseBytes = 1 << 16
            // The caller alone is the candidate that never goes parallel; both run with all threads
            // (memcpy between runs too).
            var fake = FakeMeasurer { tuningCase, tuning, threads in
                XCTAssertEqual(threads, 2)
                return tuning.inlineThresholdBytes == Int.max ? (tuningCase.payloadBytes >= winsFrom ? 2 : 0.5) : 1
            }
            let profile = try tuner.run(measurer: &fake, ttc: []) { _ in }
            XCTAssertEqual(profile.tuning.inlineThresholdBytes, quick && winsFrom == 0 ? 16 << 10 : expected, "quick \(quick), workers win from \(winsFrom)")
        }
    }

    func testTheFetchKnobIsSweptPastTheLastLevelCacheWhereTheWideWalksRun() throws {
        // Scripted: fetching ahead 10 % slower on the copies it applies to. Its cases are twice the
        // default threshold (this machine's last-level cache); where the AVX-512 walks run, the
        // tuner measures the knob and turns it off; where they do not, the knob runs nowhere and
        // is left alone.
        for walks in [true, false] {
            Kernels.allowAVX512Transposes(walks)
            defer { Kernels.allowAVX512Transposes(true) }
            var tuner = Tuner(quick: true, threads: 2, fingerprint: fingerprint)
            tuner.caseBytes = 1 << 16
            let threshold = CopyTuning.fetchAheadThresholdByDefault
            XCTAssertEqual(tuner.fetchCaseBytes, Swift.min(512 << 20, 2 * threshold))
            XCTAssertTrue(tuner.fetchCases.allSatisfy { c in
                c.payloadBytes >= threshold && c.permutation == [1, 0] && c.shape.allSatisfy { $0 % 2 == 1 && ($0 * 4 + 256) % 4096 >= 512 }
            }, "\(tuner.fetchCases.map(\.shape))")
            // Sides near a multiple of 1024 elements move off it, by 64 elements at a time.
            XCTAssertEqual(Tuner.fetchCaseSide(1024), 1089)
            XCTAssertEqual(Tuner.fetchCaseSide(8191.5), 8319)
            XCTAssertEqual(Tuner.fetchCaseSide(7262.9), 7263)
            var fake = FakeMeasurer { tuningCase, tuning, _ in
                tuningCase.payloadBytes >= tuning.fetchAheadThresholdBytes ? 1.1 : 1.0
            }
            var reports = [TuningProgress]()
            let profile = try tuner.run(measurer: &fake, ttc: []) { reports.append($0) }
            let swept = rl_avx512_walks() != 0
            XCTAssertEqual(profile.measurements.contains { $0.knob == "fetchAheadThresholdBytes" && $0.candidate == "off" && $0.chosen }, swept, "walks allowed: \(walks)")
            XCTAssertEqual(profile.tuning.fetchAheadThresholdBytes, swept ? Int.max : CopyTuning.defaults.fetchAheadThresholdBytes)
            XCTAssertEqual(fake.calls, reports.count)
            XCTAssertEqual(reports.last?.done, reports.last?.total)
        }
        // A machine whose fetching pays keeps it.
        var tuner = Tuner(quick: true, threads: 2, fingerprint: fingerprint)
        tuner.caseBytes = 1 << 16
        var fake = FakeMeasurer { tuningCase, tuning, _ in tuningCase.payloadBytes >= tuning.fetchAheadThresholdBytes ? 0.9 : 1.0 }
        let profile = try tuner.run(measurer: &fake, ttc: []) { _ in }
        XCTAssertEqual(profile.tuning.fetchAheadThresholdBytes, CopyTuning.defaults.fetchAheadThresholdBytes)
    }

    func testATunedProfileThatLosesOnTTCIsReplacedByTheDefaults() throws {
        var tuner = Tuner(quick: true, threads: 2, fingerprint: fingerprint)
        tuner.caseBytes = 1 << 16
        let ttcShapes = Set(Tuner.ttcCases(quick: true, specifications: ttcSpecifications).map(\.permutation))
        var fake = FakeMeasurer { tuningCase, tuning, _ in
            let isTTC = tuningCase.shape.count > 2 && ttcShapes.contains(tuningCase.permutation) && tuningCase.shape.reduce(1, *) > 1 << 20
            // Bigger 4-byte tiles win on the tuner's own cases but lose on TTC.
            if tuning.tiles[4]?.along == 1024 { return isTTC ? 1.5 : 0.5 }
            return 1.0
        }
        let profile = try tuner.run(measurer: &fake, ttc: Tuner.ttcCases(quick: true, specifications: ttcSpecifications)) { _ in }
        XCTAssertEqual(profile.tuning, .defaults)
        XCTAssertLessThan(profile.tunedRatio!, profile.defaultsRatio!)
    }
}
