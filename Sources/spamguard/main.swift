// The spamguard milter daemon: parse the command line, read the configuration, run the daemon.
import Learning
import SpamguardService

#if canImport(Glibc)
import Glibc
#endif

// First, while this is the only thread: every thread created from here on inherits the signal mask
// (libmilter owns SIGTERM/SIGINT, reload owns SIGHUP/SIGUSR1; see ProcessSignals).
ProcessSignals.blockDaemonSignals()

let command = SpamguardCommand.parseOrExit()

// Read the configuration before detaching, so that a bad file is reported where the operator looks.
let configuration: Configuration
do {
    configuration = try Configuration.load(from: command.config)
} catch {
    let sink = LogSink.foreground(level: .info)
    sink.makeLogger().critical("\(error)")
    exit(78)  // EX_CONFIG
}

let sink: LogSink
if command.foreground {
    sink = LogSink.foreground(level: configuration.logLevel)
} else {
    do {
        try Detach.fromTerminal()  // still the only thread: fork is safe here
    } catch {
        LogSink.foreground(level: .info).makeLogger().critical("cannot detach from the terminal: \(error)")
        exit(1)
    }
    sink = LogSink(destination: .syslog, level: configuration.logLevel)
}

// The serving classifier: the learning loop's store's `current` version once it has one, [model] classifier until then.
let store = BundleStore(directory: LearningPaths(configuration).store)
let daemon = Daemon(
    configuration: configuration, configurationPath: command.config, loader: BundleClassifierLoader(store: store), sink: sink,
    extension: LearningAssembly.extension(store: store)
)
MainThread.run {
    do {
        try await daemon.run()
        return 0
    } catch {
        return 1
    }
}
