import Relayout

/// One benchmark case: a row-major source of `dtype` and `shape`, made contiguous after NumPy's
/// `transpose(permutation)` and, optionally, a NumPy basic index of the result. Written
/// `DTYPE:SHAPE:PERM` or `DTYPE:SHAPE:PERM[INDEX]`, e.g. `f4:64x224x224x3:0,3,1,2` or
/// `u1:1080x1920x4:0,1,2[:,:,:3]` (an RGBA image's RGB channels).
struct BenchCase: Equatable {
    var dtype: NpyDType
    var shape: [Int]
    var permutation: [Int]
    /// The index applied after the permutation, as written between the brackets (nil: none).
    var index: String? = nil

    var name: String {
        "\(dtype.rawValue):\(shape.map(String.init).joined(separator: "x")):\(permutation.map(String.init).joined(separator: ","))"
            + (index.map { "[\($0)]" } ?? "")
    }

    /// The bytes the case copies: the view's, after the index.
    var bytes: Int { ((try? layout().count) ?? shape.reduce(1, *)) * dtype.elementSize }

    init(dtype: NpyDType, shape: [Int], permutation: [Int], index: String? = nil) {
        self.dtype = dtype
        self.shape = shape
        self.permutation = permutation
        self.index = index
    }

    /// The copied view's layout on a row-major source of `shape`.
    func layout() throws -> Layout {
        let permuted = try Layout.rowMajor(shape).permuted(permutation)
        guard let index else { return permuted }
        return try permuted.indexed(IndexSpec.parseList(index))
    }

    init(parsing text: String) throws {
        var body = Substring(text), index: String? = nil
        if let open = text.firstIndex(of: "[") {
            guard text.hasSuffix("]") else { throw RelayoutError.invalidArgument("case '\(text)': an index is written [INDEX] at the end") }
            index = String(text[text.index(after: open)..<text.index(before: text.endIndex)])
            body = text[..<open]
        }
        let parts = body.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else { throw RelayoutError.invalidArgument("case '\(text)' is not DTYPE:SHAPE:PERM or DTYPE:SHAPE:PERM[INDEX]") }
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
        self.init(dtype: dtype, shape: shape, permutation: permutation, index: index)
        let view: Layout
        do {
            view = try layout()
        } catch {
            throw RelayoutError.invalidArgument("case '\(text)': \(error)")
        }
        // Nothing to time (and no ratio to memcpy of no bytes).
        guard view.shape.allSatisfy({ $0 > 0 }) else {
            throw RelayoutError.invalidArgument("case '\(text)': the index selects no elements (shape \(view.shape))")
        }
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
