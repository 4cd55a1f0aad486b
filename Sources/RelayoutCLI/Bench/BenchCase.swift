import Relayout

/// One benchmark case: a row-major source of `dtype` and `shape`, made contiguous after NumPy's
/// `transpose(permutation)`. Written `DTYPE:SHAPE:PERM`, e.g. `f4:64x224x224x3:0,3,1,2`.
struct BenchCase: Equatable {
    var dtype: NpyDType
    var shape: [Int]
    var permutation: [Int]

    var name: String {
        "\(dtype.rawValue):\(shape.map(String.init).joined(separator: "x")):\(permutation.map(String.init).joined(separator: ","))"
    }

    var bytes: Int { shape.reduce(1, *) * dtype.elementSize }

    init(dtype: NpyDType, shape: [Int], permutation: [Int]) {
        self.dtype = dtype
        self.shape = shape
        self.permutation = permutation
    }

    init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else { throw RelayoutError.invalidArgument("case '\(text)' is not DTYPE:SHAPE:PERM") }
        guard let dtype = NpyDType(rawValue: parts[0]) else {
            throw RelayoutError.invalidArgument("case '\(text)': unknown dtype '\(parts[0])'")
        }
        let shape = parts[1].split(separator: "x").compactMap { Int($0) }
        let permutation = parts[2].split(separator: ",").compactMap { Int($0) }
        guard !shape.isEmpty, shape.count == parts[1].split(separator: "x").count, shape.allSatisfy({ $0 > 0 }) else {
            throw RelayoutError.invalidArgument("case '\(text)': shape '\(parts[1])' is not like 64x224x3")
        }
        guard permutation.count == parts[2].split(separator: ",").count, permutation.sorted() == Array(0..<shape.count) else {
            throw RelayoutError.invalidArgument("case '\(text)': '\(parts[2])' is not a permutation of 0..<\(shape.count)")
        }
        self.init(dtype: dtype, shape: shape, permutation: permutation)
    }

    /// A TTC line (`dim perm... size...`, column-major) as a row-major case:
    /// shape = reversed(size), axes[k] = dim-1-perm[dim-1-k].
    init(ttc line: String, dtype: NpyDType = .float32) {
        let numbers = line.split(separator: " ").compactMap { Int($0) }
        let dim = numbers[0]
        let perm = Array(numbers[1...dim])
        let size = Array(numbers[(dim + 1)...(2 * dim)])
        self.init(dtype: dtype, shape: size.reversed(), permutation: (0..<dim).map { dim - 1 - perm[dim - 1 - $0] })
    }
}

/// The named suites of `relayout bench`.
enum BenchSuite: String, CaseIterable {
    case ttc, small, deepcopy, loader, all

    /// The workloads (not copy cases) a suite runs.
    var workloads: [String] {
        switch self {
        case .deepcopy: return ["deepcopy"]
        case .loader: return ["loader"]
        case .all: return ["deepcopy", "loader"]
        default: return []
        }
    }

    var cases: [BenchCase] {
        switch self {
        case .ttc: return ttcSpecifications.map { BenchCase(ttc: $0) }
        case .small:
            // 1 KiB to 4 MiB: plain copies and square transposes of float32.
            return stride(from: 10, through: 22, by: 2).flatMap { log2Bytes -> [BenchCase] in
                let elements = (1 << log2Bytes) / 4
                let side = Int(Double(elements).squareRoot())
                return [BenchCase(dtype: .float32, shape: [elements], permutation: [0]),
                        BenchCase(dtype: .float32, shape: [side, side], permutation: [1, 0])]
            }
        case .deepcopy, .loader: return []
        case .all: return BenchSuite.ttc.cases + BenchSuite.small.cases
        }
    }
}
