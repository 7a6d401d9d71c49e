import Testing
@testable import SpamguardService

@Suite("Configuration: defaults, TOML, validation with file and key named")
struct ConfigurationTests {
    func parse(_ toml: String) throws(ConfigurationError) -> Configuration {
        try Configuration(toml: toml, file: "/etc/spamguard/spamguard.conf")
    }

    func error(_ toml: String) -> ConfigurationError? {
        do {
            _ = try parse(toml)
            return nil
        } catch {
            return error
        }
    }

    @Test("an empty file is the documented defaults")
    func defaults() throws {
        let configuration = try parse("")
        #expect(configuration == Configuration())
        #expect(configuration.milter.listen == "unix:/run/spamguard/milter.sock")
        #expect(configuration.milter.timeoutSeconds == 30)
        #expect(configuration.model.base == "/var/lib/spamguard/models/gpt2")
        #expect(configuration.model.classifier == "/var/lib/spamguard/classifier")
        #expect(configuration.batching.maxBatch == 8)
        #expect(configuration.batching.maxWaitMilliseconds == 5)
        #expect(configuration.policy.addHeaderAt == 0.5)
        #expect(configuration.policy.rejectAt == 0.99)
        #expect(configuration.policy.quarantineAt > 1)
        #expect(configuration.policy.onError == .accept)
        #expect(configuration.skip.authenticated)
        #expect(configuration.skip.networks.isEmpty)
        #expect(configuration.controlSocket == "/run/spamguard/control.sock")
        #expect(configuration.stateDirectory == "/var/lib/spamguard")
    }

    @Test("every key is read")
    func everyKey() throws {
        let configuration = try parse("""
            [milter]
            listen = "inet:11332@127.0.0.1"
            timeout_seconds = 60
            max_body_bytes = 1000
            socket_mode = "0666"
            [model]
            base = "/m/base"
            classifier = "/m/classifier"
            deadline_ms = 2500
            [batching]
            max_batch = 16
            max_wait_ms = 0
            [policy]
            add_header_at = 0.6
            reject_at = 2        # an integer is a number too; above 1 disables rejection
            quarantine_at = 0.9
            on_error = "tempfail"
            skip_authenticated = false
            skip_networks = ["10.0.0.0/8", "::1"]
            reject_text = "No thanks"
            subject_tag = "[SPAM] "
            [control]
            socket = "/run/x/control.sock"
            [state]
            dir = "/srv/spamguard"
            [log]
            level = "debug"
            """)
        #expect(configuration.milter.listen == "inet:11332@127.0.0.1")
        #expect(configuration.milter.timeoutSeconds == 60)
        #expect(configuration.milter.maxBodyBytes == 1000)
        #expect(configuration.milter.socketMode == 0o666)
        #expect(configuration.model.location == ModelLocation(base: "/m/base", classifier: "/m/classifier"))
        #expect(configuration.model.deadlineMilliseconds == 2500)
        #expect(configuration.batching == .init(maxBatch: 16, maxWaitMilliseconds: 0))
        #expect(configuration.policy.addHeaderAt == 0.6)
        #expect(configuration.policy.rejectAt == 2)
        #expect(configuration.policy.quarantineAt == 0.9)
        #expect(configuration.policy.onError == .tempfail)
        #expect(configuration.policy.rejectText == "No thanks")
        #expect(configuration.policy.subjectTag == "[SPAM] ")
        #expect(!configuration.skip.authenticated)
        #expect(configuration.skip.networks.map(\.description) == ["10.0.0.0/8", "::1/128"])
        #expect(configuration.controlSocket == "/run/x/control.sock")
        #expect(configuration.stateDirectory == "/srv/spamguard")
        #expect(configuration.logLevel == .debug)
    }

    @Test("errors name the file and the key", arguments: [
        ("[policy]\nreject_at = \"high\"", "policy.reject_at", "expected a number, found string"),
        ("[policy]\nrejectat = 0.9", "policy.rejectat", "unknown key"),
        ("[polcy]\nreject_at = 0.9", "polcy", "unknown section"),
        ("[policy]\non_error = \"drop\"", "policy.on_error", "expected \"accept\" or \"tempfail\""),
        ("[policy]\nadd_header_at = 1.5", "policy.add_header_at", "between 0 and 1"),
        ("[policy]\nadd_header_at = 0.8\nreject_at = 0.7", "policy.reject_at", "at least add_header_at"),
        ("[policy]\nskip_networks = [\"10.0.0.0/33\"]", "policy.skip_networks", "CIDR"),
        ("[policy]\nskip_networks = \"10.0.0.0/8\"", "policy.skip_networks", "expected an array of strings"),
        ("[policy]\nreject_text = \"100% spam\"", "policy.reject_text", "without \"%\""),
        ("[policy]\nsubject_tag = \"a\\nb\"", "policy.subject_tag", "printable ASCII"),
        ("[milter]\nlisten = \"tcp:25\"", "milter.listen", "expected \"unix:"),
        ("[milter]\nlisten = \"unix:relative.sock\"", "milter.listen", "absolute path"),
        ("[milter]\nlisten = \"inet:99999@127.0.0.1\"", "milter.listen", "port between 1 and 65535"),
        ("[milter]\ntimeout_seconds = 0", "milter.timeout_seconds", "between 1 and 3600"),
        ("[milter]\nsocket_mode = \"rw\"", "milter.socket_mode", "octal"),
        ("[model]\ndeadline_ms = 40000", "model.deadline_ms", "shorter than milter.timeout_seconds"),
        ("[model]\nbase = \"models/gpt2\"", "model.base", "absolute path"),
        ("[batching]\nmax_batch = 0", "batching.max_batch", "between 1 and 256"),
        ("[log]\nlevel = \"loud\"", "log.level", "expected one of"),
        ("milter = 3", "milter", "must be a table"),
    ])
    func namedErrors(toml: String, key: String, message: String) {
        let error = error(toml)
        #expect(error?.file == "/etc/spamguard/spamguard.conf")
        #expect(error?.key == key)
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("/etc/spamguard/spamguard.conf: \(key): ") == true)
    }

    @Test("TOML syntax errors carry line and column")
    func syntaxError() {
        let error = error("[milter]\nlisten = \"unterminated\n")
        #expect(error?.key == nil)
        #expect(error?.message.contains("line 2") == true, "\(String(describing: error))")
    }

    @Test("a missing file is named")
    func missingFile() {
        #expect(throws: ConfigurationError.self) { try Configuration.load(from: "/nonexistent/spamguard.conf") }
        do {
            _ = try Configuration.load(from: "/nonexistent/spamguard.conf")
        } catch {
            #expect(error.description.hasPrefix("/nonexistent/spamguard.conf: cannot read"))
        }
    }

    @Test("etc/spamguard.conf documents every key with its true default")
    func shippedFileDocumentsTheDefaults() throws {
        let path = "/" + #filePath.split(separator: "/").dropLast(3).joined(separator: "/") + "/etc/spamguard.conf"
        #expect(try Configuration.load(from: path) == Configuration())
        // Uncommenting every `#key = value` line must change nothing: the documented defaults are the real ones.
        let text = try readTextFile(path)
        var keys = 0
        let uncommented = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            guard line.hasPrefix("#"), let first = line.dropFirst().first, first.isLowercase, line.contains(" = ") else {
                return String(line)
            }
            keys += 1
            return String(line.dropFirst())
        }.joined(separator: "\n")
        #expect(try Configuration(toml: uncommented, file: path) == Configuration())
        #expect(keys == 35)
    }
}

@Suite("IP networks for skip_networks")
struct IPNetworkTests {
    @Test func ipv4() throws {
        let network = try #require(IPNetwork("192.168.0.0/16"))
        #expect(network.contains(IPAddress("192.168.200.1")!))
        #expect(!network.contains(IPAddress("192.169.0.1")!))
        #expect(!network.contains(IPAddress("::1")!))
        #expect(IPNetwork("10.1.2.3")!.contains(IPAddress("10.1.2.3")!))
        #expect(!IPNetwork("10.1.2.3")!.contains(IPAddress("10.1.2.4")!))
        #expect(IPNetwork("0.0.0.0/0")!.contains(IPAddress("8.8.8.8")!))
        #expect(IPNetwork("10.0.0.0/12")!.contains(IPAddress("10.15.255.255")!))
        #expect(!IPNetwork("10.0.0.0/12")!.contains(IPAddress("10.16.0.0")!))
    }

    @Test func ipv6AndMapped() throws {
        let network = try #require(IPNetwork("2001:db8::/32"))
        #expect(network.contains(IPAddress("2001:db8:ffff::1")!))
        #expect(!network.contains(IPAddress("2001:db9::1")!))
        // A v4 client reaching a v6 socket shows up as ::ffff:a.b.c.d and still matches a v4 network.
        #expect(IPNetwork("127.0.0.0/8")!.contains(IPAddress("::ffff:127.0.0.1")!))
        #expect(IPAddress("::ffff:127.0.0.1")!.description == "127.0.0.1")
        #expect(IPAddress("2001:db8::1")!.description == "2001:db8::1")
    }

    @Test(arguments: ["", "10.0.0.0/", "10.0.0.0/33", "::/129", "300.1.1.1", "example.org", "10.0.0.0/-1"])
    func refused(text: String) {
        #expect(IPNetwork(text) == nil)
    }
}
