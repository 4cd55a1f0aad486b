#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// memcpy split into equal contiguous parts, one per thread: the ceiling every copy is measured
/// against (same bytes, same threads, same run).
public enum ParallelMemcpy {
    public static func copy(from source: UnsafeRawPointer, to destination: UnsafeMutableRawPointer, byteCount: Int, threads: Int) {
        let parts = Swift.max(1, Swift.min(threads, byteCount / 4096))
        // Parts rounded to cache lines so no two threads share one.
        let part = ((byteCount / parts) + 63) & ~63
        Executor.run(chunks: parts, workers: parts) { k, _ in
            let begin = k * part
            let end = Swift.min(byteCount, begin + part)
            if begin < end { memcpy(destination + begin, source + begin, end - begin) }
        }
    }
}
