import Foundation

/// A real Postfix (Debian package `postfix`), started with a configuration directory of its own: it listens
/// on a free loopback port, hands every message to the milter at `milter`, and delivers mail for
/// `test.example` into one Maildir. Needs root (Postfix's master does). `stop()` ends it; deinit kills it.
public final class PostfixInstance: @unchecked Sendable {
    public let directory: String
    public let port: Int
    private var running = false

    public var maildir: String { "\(directory)/mail/maildir" }
    public var log: String { (try? String(contentsOfFile: "\(directory)/maillog", encoding: .utf8)) ?? "" }

    public init(scratch: Scratch, milter: String) async throws {
        directory = scratch.file("postfix")
        port = try freeLoopbackPort()
        let files = FileManager.default
        for sub in ["etc", "queue", "data", "mail"] {
            try files.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
        }
        // smtpd runs as postfix and must reach the milter socket; virtual delivers as nobody.
        chmod(scratch.path, 0o755)
        try chown(path: "\(directory)/data", user: "postfix")
        try chown(path: "\(directory)/mail", user: "nobody")
        try """
            compatibility_level = 3.6
            queue_directory = \(directory)/queue
            data_directory = \(directory)/data
            maillog_file = \(directory)/maillog
            maillog_file_prefixes = \(directory)
            mail_owner = postfix
            setgid_group = postdrop
            myhostname = mx.test.example
            mydomain = test.example
            inet_interfaces = 127.0.0.1
            inet_protocols = ipv4
            mydestination =
            mynetworks = 127.0.0.0/8
            smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
            virtual_mailbox_domains = test.example
            virtual_mailbox_base = \(directory)/mail
            virtual_mailbox_maps = static:maildir/
            virtual_uid_maps = static:65534
            virtual_gid_maps = static:65534
            alias_maps =
            alias_database =
            biff = no
            smtputf8_enable = no

            # The lines the README gives for spamguard:
            smtpd_milters = \(milter)
            non_smtpd_milters = $smtpd_milters
            milter_default_action = accept
            milter_protocol = 6
            """.write(toFile: "\(directory)/etc/main.cf", atomically: true, encoding: .utf8)
        let services = [
            "\(port) inet n - n - - smtpd", "pickup unix n - n 60 1 pickup", "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr", "rewrite unix - - n - - trivial-rewrite", "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce", "trace unix - - n - 0 bounce", "verify unix - - n - 1 verify",
            "proxymap unix - - n - - proxymap", "smtp unix - - n - - smtp", "relay unix - - n - - smtp",
            "error unix - - n - - error", "retry unix - - n - - error", "discard unix - - n - - discard",
            "virtual unix - n n - - virtual", "anvil unix - - n - 1 anvil", "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd", "showq unix n - n - - showq",
        ]
        try (services.joined(separator: "\n") + "\n").write(toFile: "\(directory)/etc/master.cf", atomically: true, encoding: .utf8)

        let start = try await runProcess("/usr/sbin/postfix", ["-c", "\(directory)/etc", "start"], mergingErrors: true)
        running = true
        guard start.status == 0, await eventually(timeout: .seconds(20), { canConnect(port: port) }) else {
            throw HarnessError("postfix did not start (\(start.status)): \(start.output)\n\(log)")
        }
    }

    deinit {
        guard running else { return }
        let stop = Process()
        stop.executableURL = URL(fileURLWithPath: "/usr/sbin/postfix")
        stop.arguments = ["-c", "\(directory)/etc", "abort"]
        try? stop.run()
        stop.waitUntilExit()
    }

    /// Stops Postfix and waits for its master to be gone.
    public func stop() async throws {
        guard running else { return }
        let pidFile = "\(directory)/queue/pid/master.pid"
        let pid = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        _ = try await runProcess("/usr/sbin/postfix", ["-c", "\(directory)/etc", "stop"], mergingErrors: true)
        if let pid { _ = await eventually(timeout: .seconds(20)) { kill(pid, 0) != 0 } }
        running = false
    }

    /// Sends `message` over SMTP (swaks); returns its transcript.
    public func send(_ message: String, to recipient: String = "rcpt@test.example") async throws -> ProcessRun {
        let path = "\(directory)/outgoing-\(UUID().uuidString).eml"
        try message.replacingOccurrences(of: "\n", with: "\r\n").write(toFile: path, atomically: true, encoding: .utf8)
        return try await runProcess("/usr/bin/swaks", [
            "--server", "127.0.0.1:\(port)", "--from", "sender@example.org", "--to", recipient,
            "--helo", "client.example", "--data", "@\(path)", "--timeout", "60",
        ], mergingErrors: true)
    }

    /// Messages delivered so far, oldest first.
    public func delivered() -> [String] {
        let new = "\(maildir)/new"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: new)) ?? []).sorted()
        return names.compactMap { try? String(contentsOfFile: "\(new)/\($0)", encoding: .utf8) }
    }

    /// Waits until `count` messages have been delivered.
    public func waitForDeliveries(_ count: Int) async -> [String] {
        _ = await eventually(timeout: .seconds(30)) { delivered().count >= count }
        return delivered()
    }
}

/// The header block of a delivered message.
public func headerBlock(_ message: String) -> String {
    let normalized = message.replacingOccurrences(of: "\r\n", with: "\n")
    return normalized.components(separatedBy: "\n\n").first ?? normalized
}

public func chown(path: String, user: String) throws {
    guard let entry = getpwnam(user) else { throw HarnessError("no user \(user)") }
    guard chown(path, entry.pointee.pw_uid, entry.pointee.pw_gid) == 0 else { throw HarnessError("chown \(path): errno \(errno)") }
}
