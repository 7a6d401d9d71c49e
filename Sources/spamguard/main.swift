// The spamguard milter daemon: parse the command line, read the configuration, run the daemon.
import GPT
import SpamguardService

#if canImport(Glibc)
import Glibc
#endif

// Before anything else: no OpenBLAS thread pool, whose threads would take the daemon's signals (see there).
OpenBLASThreadPool.preventAtLoad()

// First, while this is the only thread: every thread created from here on inherits the signal mask
// (libmilter owns SIGTERM/SIGINT, reload owns SIGHUP/SIGUSR1; see ProcessSignals).
ProcessSignals.blockDaemonSignals()
// OpenBLAS on the calling thread (the model actor's compute thread); the engine splits work across cores itself.
BLASSetup.useEngineThreads()

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

let daemon = Daemon(configuration: configuration, configurationPath: command.config, loader: TrainedClassifierLoader(), sink: sink)
MainThread.run {
    do {
        try await daemon.run()
        return 0
    } catch {
        return 1
    }
}
