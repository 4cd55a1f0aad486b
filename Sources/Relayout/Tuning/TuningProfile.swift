#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What identifies the machine a profile was measured on. A profile from another machine is ignored.
public struct MachineFingerprint: Codable, Equatable, Sendable {
    public var cpuModel: String
    public var coreCount: Int
    public var numaNodes: Int
    public var caches: Topology.Caches

    public init(cpuModel: String, coreCount: Int, numaNodes: Int, caches: Topology.Caches) {
        self.cpuModel = cpuModel
        self.coreCount = coreCount
        self.numaNodes = numaNodes
        self.caches = caches
    }

    public init(_ topology: Topology) {
        self.init(cpuModel: topology.cpuModel, coreCount: topology.coreCount, numaNodes: topology.nodes.count, caches: topology.caches)
    }

    /// This machine.
    public static var current: MachineFingerprint { MachineFingerprint(Topology.current()) }
}

/// One candidate value of one knob, and what it measured: geometric means over the knob's cases.
public struct TuningMeasurement: Codable, Equatable, Sendable {
    /// The knob: `tile.1` … `tile.16`, `runTileAreaBytes`, `chunkBytes`, `wideTransposes`,
    /// `stagedTransposesAtAnyStride` (only where the AVX-512 walks do not run), `followsSourceRows`,
    /// `freshPopulators`, `streamingThresholdBytes`, `inlineThresholdBytes`.
    public var knob: String
    public var candidate: String
    /// Copy bandwidth (read plus written), GB/s.
    public var gbps: Double
    /// Copy bandwidth over memcpy bandwidth of the same bytes, same threads, same run.
    public var ratio: Double
    public var chosen: Bool

    public init(knob: String, candidate: String, gbps: Double, ratio: Double, chosen: Bool) {
        self.knob = knob
        self.candidate = candidate
        self.gbps = gbps
        self.ratio = ratio
        self.chosen = chosen
    }
}

/// The tuned values for one machine and the measurements behind them, as stored on disk.
public struct TuningProfile: Codable, Equatable, Sendable {
    public var version = 1
    public var fingerprint: MachineFingerprint
    public var createdAt: String
    public var quick: Bool
    public var tuning: CopyTuning
    public var measurements: [TuningMeasurement]
    /// TTC-suite geometric means of the ratio to memcpy with the built-in defaults and with `tuning`,
    /// measured at the end of the run (a tuned profile that loses is replaced by the defaults).
    public var defaultsRatio: Double?
    public var tunedRatio: Double?

    public init(fingerprint: MachineFingerprint, createdAt: String, quick: Bool, tuning: CopyTuning, measurements: [TuningMeasurement],
                defaultsRatio: Double? = nil, tunedRatio: Double? = nil) {
        self.fingerprint = fingerprint
        self.createdAt = createdAt
        self.quick = quick
        self.tuning = tuning
        self.measurements = measurements
        self.defaultsRatio = defaultsRatio
        self.tunedRatio = tunedRatio
    }

    /// Reads a profile; throws ``RelayoutError/io(_:)`` for a missing, unreadable or corrupt file.
    public static func read(path: String) throws -> TuningProfile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RelayoutError.io("cannot read profile '\(path)'")
        }
        do {
            return try JSONDecoder().decode(TuningProfile.self, from: data)
        } catch {
            throw RelayoutError.io("profile '\(path)' is corrupt: \(error)")
        }
    }

    /// Writes the profile as JSON, creating the folder; a temporary file renamed into place.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        let folder = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        do {
            try FileManager.default.createDirectory(atPath: folder.isEmpty ? "/" : folder, withIntermediateDirectories: true)
        } catch {
            throw RelayoutError.io("cannot create folder '\(folder)' for the profile: \(error)")
        }
        let temporary = NpyFile.temporaryPath(for: path)
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw RelayoutError.io("cannot write profile '\(temporary)'")
        }
        guard rename(temporary, path) == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw RelayoutError.io("cannot move the profile into '\(path)'")
        }
    }
}

/// Where the tuning in force came from.
public enum ProfileSource: String, Codable, Sendable {
    case flag, environment, cache, defaults
}

/// The outcome of looking a profile up: the tuning to use, where it came from, and at most one warning.
public struct ProfileResolution: Sendable {
    public var tuning: CopyTuning
    public var source: ProfileSource
    /// The file the tuning came from (nil for the defaults).
    public var path: String?
    /// Why a profile that was found was not used (another machine's, or corrupt).
    public var warning: String?
    public var profile: TuningProfile?
}

extension TuningProfile {
    /// `$XDG_CACHE_HOME/relayout/profile.json`, or `~/.cache/relayout/profile.json`.
    public static func cachePath(environment: [String: String]) -> String {
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/relayout/profile.json" }
        return (environment["HOME"] ?? "") + "/.cache/relayout/profile.json"
    }

    /// Looks the profile up in the documented order: `flag` (a `--profile PATH`), `$RELAYOUT_PROFILE`,
    /// the cache path, then the built-in defaults. A file named by the flag must be readable (else
    /// this throws); any other problem — another machine's profile, a corrupt file, a missing file
    /// named by the environment — falls back to the defaults with one warning.
    public static func resolve(flag: String?, environment: [String: String], fingerprint: MachineFingerprint) throws -> ProfileResolution {
        let defaults = ProfileResolution(tuning: .defaults, source: .defaults, path: nil, warning: nil, profile: nil)
        let candidate: (ProfileSource, String)
        if let flag {
            guard FileManager.default.isReadableFile(atPath: flag) else { throw RelayoutError.io("cannot read profile '\(flag)'") }
            candidate = (.flag, flag)
        } else if let path = environment["RELAYOUT_PROFILE"], !path.isEmpty {
            guard FileManager.default.fileExists(atPath: path) else {
                var result = defaults
                result.warning = "RELAYOUT_PROFILE names '\(path)', which does not exist; using built-in defaults"
                return result
            }
            candidate = (.environment, path)
        } else {
            let path = cachePath(environment: environment)
            guard FileManager.default.fileExists(atPath: path) else { return defaults }
            candidate = (.cache, path)
        }
        do {
            let profile = try read(path: candidate.1)
            guard profile.fingerprint == fingerprint else {
                var result = defaults
                result.warning = "profile '\(candidate.1)' was measured on another machine (\(profile.fingerprint.cpuModel), \(profile.fingerprint.coreCount) cores); using built-in defaults"
                return result
            }
            return ProfileResolution(tuning: profile.tuning, source: candidate.0, path: candidate.1, warning: nil, profile: profile)
        } catch {
            var result = defaults
            result.warning = "\(error); using built-in defaults"
            return result
        }
    }
}

/// The profile in force for this process: resolved from the environment on first use, or set by a
/// command's `--profile`. Setting it also sets ``CopyTuning/active``.
public enum ActiveProfile {
    private static let state = Locked<ProfileResolution?>(nil)

    /// The resolution in force, resolving from the environment (and printing its warning once) the
    /// first time.
    public static var resolution: ProfileResolution {
        if let known = state.withLock({ $0 }) { return known }
        let environment = ProcessInfo.processInfo.environment
        let resolved = (try? TuningProfile.resolve(flag: nil, environment: environment, fingerprint: .current))
            ?? ProfileResolution(tuning: .defaults, source: .defaults, path: nil, warning: nil, profile: nil)
        install(resolved)
        return resolved
    }

    /// Resolves with an explicit `--profile` path (nil: environment and cache) and puts it in force.
    @discardableResult
    public static func load(flag: String?) throws -> ProfileResolution {
        let resolved = try TuningProfile.resolve(flag: flag, environment: ProcessInfo.processInfo.environment, fingerprint: .current)
        install(resolved)
        return resolved
    }

    static func install(_ resolution: ProfileResolution) {
        state.withLock { $0 = resolution }
        CopyTuning.installActive(resolution.tuning)
        if let warning = resolution.warning { printWarning("relayout: warning: \(warning)") }
    }

    static func printWarning(_ line: String) {
        let text = line + "\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
    }
}
