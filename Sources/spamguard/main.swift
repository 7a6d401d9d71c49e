// The spamguard milter daemon: parse the command line, read the configuration, run the daemon.
import GPT
import Learning
import SpamguardService

#if canImport(Glibc)
import Glibc
#endif

// First: every thread created from here on inherits the signal mask (libmilter owns SIGTERM/SIGINT,
// reload owns SIGHUP/SIGUSR1; see ProcessSignals).
ProcessSignals.blockDaemonSignals()
// OpenBLAS may re-execute us once for a better core (same process, same mask), and it started its own
// worker threads when it loaded, before the line above: those would take SIGTERM by default action.
let blas = BLASSetup.selectBestCore()
OpenBLASLoadTimeThreads.stop()

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

// The engine's own threads, now that the process will not fork again (fork keeps only the calling thread).
BLASSetup.useEngineThreads()
sink.makeLogger().info("\(blas); OpenBLAS now runs \(BLASSetup.threads) thread per call, the engine splits the work")

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
