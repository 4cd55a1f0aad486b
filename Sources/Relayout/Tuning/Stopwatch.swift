#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Monotonic wall-clock timing for benchmarks and the tuner (never for tests).
public enum Stopwatch {
    /// Nanoseconds on the monotonic clock.
    public static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    /// Seconds taken by `body`.
    public static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = now()
        try body()
        return Double(now() - start) / 1e9
    }
}

/// The median of a non-empty list (the mean of the middle two for even counts).
public func median(_ values: [Double]) -> Double {
    precondition(!values.isEmpty, "median of nothing")
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/// The geometric mean of positive values.
public func geometricMean(_ values: [Double]) -> Double {
    precondition(!values.isEmpty, "geometric mean of nothing")
    return exp(values.reduce(0) { $0 + log($1) } / Double(values.count))
}
