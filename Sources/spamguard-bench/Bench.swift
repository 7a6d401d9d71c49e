import ArgumentParser

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spamguard-bench",
        abstract: "Release benchmarks. Each prints its figures next to a limit or reference measured in the same run.",
        discussion: "Run with: swift run -c release spamguard-bench <benchmark>",
        subcommands: [EngineBench.self, TrainBench.self, TokenizerBench.self, MailTextBench.self, MilterBench.self]
    )
}
