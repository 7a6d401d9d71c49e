import ArgumentParser
import SpamguardService

/// The command line: `spamguard [--config PATH] [--foreground]`.
struct SpamguardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spamguard",
        abstract: "The spamguard mail filter: scores each message with a finetuned GPT-2 and marks, quarantines or rejects spam.",
        discussion: """
            spamguard is a milter: Postfix or Sendmail hands it every message during the SMTP dialogue. \
            Every scanned message gets

              X-Spam-Score: 0.973
              X-Spam-Status: Yes, score=0.973 required=0.500 model=<version>

            and X-Spam-Flag: YES at or above policy.add_header_at; at or above policy.reject_at the message \
            is refused with 550 5.7.1. Senders who authenticated (SMTP AUTH) and clients in \
            policy.skip_networks are not scanned.

            Postfix, in main.cf:

              smtpd_milters = unix:/run/spamguard/milter.sock
              non_smtpd_milters = $smtpd_milters
              milter_default_action = accept
              milter_protocol = 6

            Models: [model] base is a GPT-2 in the Hugging Face layout, [model] classifier the bundle \
            written by `spamguardctl train`. Until a classifier exists spamguard logs so and passes mail on \
            unscanned; a corrupt model is refused with a log line saying why, and mail passes unscanned too.

            Signals: SIGHUP or SIGUSR1 (systemctl reload spamguard) re-read the configuration and the model \
            without dropping connections. SIGTERM or SIGINT stop accepting connections, let the messages in \
            progress finish, and exit.

            Exit status: 0 after a clean stop, 78 if the configuration is unusable, 1 on any other failure.
            """
    )

    @Option(help: ArgumentHelp("The configuration file (TOML); every key has a default.", valueName: "path"))
    var config = Configuration.defaultPath

    @Flag(help: """
        Stay in the foreground and log to stderr (to the journal when run by systemd). \
        Without it, spamguard detaches from the terminal and logs to syslog (facility mail).
        """)
    var foreground = false
}
