import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Relayout

@main
struct RelayoutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relayout",
        abstract: "Moves tensor data between memory layouts at the speed of the memory system.",
        subcommands: [CopyCommand.self, BenchCommand.self, TuneCommand.self, InfoCommand.self]
    )
}

/// Runs a command body, turning library errors into one line on stderr and exit status 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as RelayoutError {
        printError("relayout: error: \(error)")
        throw ExitCode.failure
    }
}

func printError(_ message: String) {
    let line = message + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}
