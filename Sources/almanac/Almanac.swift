import ArgumentParser

@main
struct Almanac: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "almanac",
        abstract: "Almanac: a multi-zone, predictively journaled metadata service.",
        subcommands: [
            // Each subcommand lives in its own file in this directory.
            SimulateCommand.self,
            StorageBench.self, StorageCrashChild.self,
        ]
    )
}
