import ArgumentParser

@main
struct SpamguardCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spamguardctl",
        abstract: "Operate spamguard: inspect the running daemon; build, judge and debug classifiers.",
        discussion: """
            Commands in "The running daemon" talk to spamguard over its control socket: --socket PATH, or \
            [control] socket of --config (default /etc/spamguard/spamguard.conf). Anyone who can open the \
            socket (root, the daemon's user and group) may read; only root and the daemon's user may reload. \
            Commands in "Learning from corrections" use the same socket, with the same rule for changes \
            (learn, rollback, pause-training, resume-training, train-now); learn, models and rollback work on \
            the daemon's files instead when it does not run (each one's --help says how). \
            Commands in "Inspecting text and models" work offline on files and a model directory \
            (Hugging Face gpt2 layout: config.json, model.safetensors, vocab.json, merges.txt).

            \(DaemonExit.summary)
            """,
        groupedSubcommands: [
            CommandGroup(name: "The running daemon", subcommands: [StatsCommand.self, ReloadCommand.self, StatusCommand.self, PingCommand.self]),
            CommandGroup(name: "Building and judging classifiers", subcommands: [TrainCommand.self, EvalCommand.self, ClassifyCommand.self]),
            CommandGroup(name: "Inspecting text and models", subcommands: [TextCommand.self, TokenizeCommand.self, LMLossCommand.self]),
            CommandGroup(name: "Learning from corrections", subcommands: [
                LearnCommand.self, ModelsCommand.self, RollbackCommand.self, PauseTrainingCommand.self, ResumeTrainingCommand.self,
                TrainNowCommand.self,
            ]),
        ]
    )
}
