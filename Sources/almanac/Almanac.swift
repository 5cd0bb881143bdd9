import Foundation
import ArgumentParser

@main
struct Almanac: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "almanac",
        abstract: "Almanac: a multi-zone, predictively journaled metadata service.",
        subcommands: [
            // Each subcommand lives in its own file in this directory.
            StorageBench.self, StorageCrashChild.self,
            PredictEval.self, ReplayCommand.self,
            PlacementSimCommand.self,
            CtlCommand.self,
            ServeCommand.self,
            DevCommand.self,
            SimulateCommand.self,
            BenchCommand.self, NamespaceBench.self,
            ChaosCommand.self,
            CertsCommand.self,
        ]
    )

    /// Like the default entry point, but usage errors exit with status 2 (the shell convention).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
