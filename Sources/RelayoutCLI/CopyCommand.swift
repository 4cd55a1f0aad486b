import ArgumentParser
import Relayout

struct CopyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Writes NumPy's a.transpose(P)[S] of IN.npy to OUT.npy in C order.",
        discussion: """
            With --format channels-last the input after --permute and --slice must be 4-D (NCHW) or 5-D \
            (NCDHW); OUT.npy then holds its memory in channels-last order, i.e. the C-ordered array of \
            shape NHWC (NDHWC). On any error nothing is written.
            """
    )

    @Argument(help: "The .npy file to read.") var input: String
    @Argument(help: "The .npy file to write (replaced atomically).") var output: String
    @Option(help: "Axis order as NumPy's transpose, e.g. 2,0,1.") var permute: String?
    @Option(help: "NumPy basic index applied after --permute, e.g. ::2,1:5,: or 0,::-1.") var slice: String?
    @Option(help: "Memory order of the result: contiguous or channels-last.") var format: String = "contiguous"
    @Option(help: "Worker threads (default: all cores).") var threads: Int?
    @Option(help: "A tuning profile to use instead of the lookup ($RELAYOUT_PROFILE, then the cache).") var profile: String?

    func run() throws {
        try reportingErrors {
            if let threads, threads < 1 { throw RelayoutError.invalidArgument("--threads must be at least 1, got \(threads)") }
            try ActiveProfile.load(flag: profile)
            guard let memoryFormat = MemoryFormat(rawValue: format) else {
                throw RelayoutError.invalidArgument("--format must be contiguous or channels-last, got '\(format)'")
            }
            let array = try NpyFile.read(path: input)
            var view = array.tensor
            if let permute { view = try view.permuted(try parseAxes(permute)) }
            if let slice { view = try view.indexed(try IndexSpec.parseList(slice)) }
            var result = try view.contiguous(format: memoryFormat, threads: threads)
            if memoryFormat == .channelsLast, let order = Layout.channelsLastOrder(rank: result.rank) {
                // Write memory order: the C-ordered NHWC (NDHWC) array.
                result = try result.permuted(order)
            }
            try NpyFile.write(result, dtype: array.dtype, to: output, threads: threads)
        }
    }

    func parseAxes(_ text: String) throws -> [Int] {
        let trimmed = text.filter { !$0.isWhitespace }
        if trimmed.isEmpty { return [] }
        return try trimmed.split(separator: ",", omittingEmptySubsequences: false).map {
            guard let axis = Int($0) else { throw RelayoutError.invalidArgument("--permute '\(text)': '\($0)' is not an axis") }
            return axis
        }
    }
}
