#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Facts about the running process without pulling in Foundation.
enum ProcessInfoLite {
    /// Online cores, at least 1.
    static var activeProcessorCount: Int {
        return Swift.max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}
