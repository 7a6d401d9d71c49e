import ControlProtocol
import Foundation
import Logging
import Synchronization
import Testing
@testable import SpamguardService

/// Answers like a daemon would, and counts reloads.
final class FakeOperations: ControlOperations {
    let reloads = Mutex(0)
    let reloadResult: Result<ReloadResult, ControlFailure>
    let learning: (any LearningOperations)?

    init(
        reloadResult: Result<ReloadResult, ControlFailure> = .success(ReloadResult(modelVersion: "new", previousModelVersion: "old")),
        learning: (any LearningOperations)? = nil
    ) {
        self.reloadResult = reloadResult
        self.learning = learning
    }

    func ping() async -> PingResult { PingResult(pid: 4242, uptimeSeconds: 1) }

    func status() async -> StatusResult {
        StatusResult(pid: 4242, started: Date(timeIntervalSince1970: 0), uptimeSeconds: 1, modelVersion: nil, messages: 0,
                     since: Date(timeIntervalSince1970: 0), inFlight: 0)
    }

    func stats() async -> StatsReport {
        StatsReport(
            daemon: DaemonFigures(pid: 4242, started: Date(timeIntervalSince1970: 0), uptimeSeconds: 1, residentMemoryBytes: 1),
            classifier: nil, messages: MessageFigures(.init(ham: 1), since: Date(timeIntervalSince1970: 0)),
            latency: LatencyFigures(sinceStart: .empty, lastFiveMinutes: .empty), batches: BatchFigures([:])
        )
    }

    func reload() async -> Result<ReloadResult, ControlFailure> {
        reloads.withLock { $0 += 1 }
        return reloadResult
    }
}

/// A `ControlServer` on a scratch socket for the length of `body`.
func withControlServer(
    operations: any ControlOperations = FakeOperations(), limits: ControlServer.Limits = ControlServer.Limits(),
    _ body: (String) async throws -> Void
) async throws {
    var template = Array("/tmp/sg-control.XXXXXX".utf8CString)
    let directory = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!)! })
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/control.sock"
    let reactor = try SocketReactor()
    defer { reactor.stop() }
    let server = ControlServer(
        socketPath: path, responder: ControlResponder(operations: operations, daemonUID: geteuid(), logger: Logger(label: "test")),
        reactor: reactor, limits: limits, logger: Logger(label: "test")
    )
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        guard await pollUntil({ FileManager.default.fileExists(atPath: path) }) else { throw ControlClientError.socketMissing(path: path) }
        try await body(path)
        group.cancelAll()
        try await group.waitForAll()
    }
    #expect(!FileManager.default.fileExists(atPath: path), "the server removes its socket when it stops")
}

func pollUntil(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// Runs blocking client code on a thread of its own: a blocked thread of the cooperative pool (two, on two
/// cores) would starve the in-process server, and every other suite running meanwhile.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await onDedicatedThread { Result { try work() } }.get()
}

/// How blocking client code failed; nil when it did not.
func clientError(_ work: () throws -> Void) -> ControlClientError? {
    do {
        try work()
        return nil
    } catch let error as ControlClientError {
        return error
    } catch {
        return .malformedResponse("not a ControlClientError: \(error)")
    }
}

extension ControlClientError {
    /// The daemon closed or reset the connection (which of the two depends on timing).
    var isConnectionLost: Bool {
        if case .connectionLost = self { true } else { false }
    }
}

extension ControlClient {
    func send(_ line: String) throws {
        try write(Array((line + "\n").utf8), deadline: .now + .seconds(5), timeout: .seconds(5))
    }

    func receive<R: Codable & Sendable>(_ type: R.Type = NoResult.self) throws -> ControlResponse<R> {
        try ControlCoding.decode(ControlResponse<R>.self, from: readLine(deadline: .now + .seconds(5), timeout: .seconds(5)))
    }

    func ping() throws -> Int32 {
        try request(.ping, expecting: PingResult.self).pid
    }
}

@Suite("ControlServer: JSON lines over a Unix socket, in process")
struct ControlServerTests {
    @Test("pipelined requests are answered in order, each with its id")
    func pipelined() async throws {
        try await withControlServer { path in
            let (ping, stats, unknown) = try await offPool {
                let client = try ControlClient(socketPath: path)
                try client.send(#"{"v":1,"id":1,"op":"ping"}"# + "\n" + #"{"v":1,"id":"two","op":"stats"}"# + "\n" + #"{"v":1,"id":3,"op":"nope"}"#)
                return (try client.receive(PingResult.self), try client.receive(StatsReport.self), try client.receive())
            }
            #expect(ping.id == .number(1))
            #expect(stats.id == .string("two"))
            #expect(stats.result?.messages.outcomes["ham"]?.count == 1)
            #expect(unknown.id == .number(3))
            #expect(unknown.error?.code == .unknownOperation)
            #expect(unknown.error?.message == #"unknown operation "nope" (this daemon knows learn, models, pause-training, ping, reload, resume-training, rollback, stats, status, train-now)"#)
        }
    }

    @Test("a reload from root or the daemon's own user is performed; its refusal carries the reason")
    func privilegedReload() async throws {
        let refusing = FakeOperations(reloadResult: .failure(ControlFailure(.modelRefused, "model refused: truncated; keeping model old")))
        try await withControlServer(operations: refusing) { path in
            let outcome = try await offPool {
                clientError { _ = try ControlClient(socketPath: path).request(.reload, expecting: ReloadResult.self) }
            }
            #expect(outcome == .refused(ControlFailure(.modelRefused, "model refused: truncated; keeping model old")))
        }
        #expect(refusing.reloads.withLock { $0 } == 1)
    }

    @Test("a line over the limit gets too_large and the connection is closed; the limit of root and the daemon's user is higher")
    func tooLarge() async throws {
        var limits = ControlServer.Limits()
        (limits.maxLineBytes, limits.maxPrivilegedLineBytes) = (1024, 4096)
        try await withControlServer(limits: limits) { path in
            // This test is the daemon's user: a 3000-byte request is within its limit, 5000 bytes are not.
            let (long, refusal, afterwards, nextPing) = try await offPool {
                let client = try ControlClient(socketPath: path)
                try client.send(#"{"v":1,"op":"ping","padding":""# + String(repeating: "x", count: 3000) + #""}"#)
                let long = try client.receive(PingResult.self)
                try client.write(Array(repeating: UInt8(ascii: "a"), count: 5000), deadline: .now + .seconds(5), timeout: .seconds(5))
                let refusal = try client.receive()
                let afterwards = clientError { _ = try client.readLine(deadline: .now + .seconds(5), timeout: .seconds(5)) }
                return (long, refusal, afterwards, try ControlClient(socketPath: path).ping())
            }
            #expect(long.result?.pid == 4242)
            #expect(refusal.error?.code == .tooLarge)
            #expect(refusal.error?.message == "a request line may be at most 4096 bytes")
            #expect(afterwards?.isConnectionLost == true, "\(String(describing: afterwards))")
            #expect(nextPing == 4242, "the server carries on")
        }
    }

    @Test("a half-sent request times out with an error line; other connections are served meanwhile")
    func halfSent() async throws {
        var limits = ControlServer.Limits()
        limits.requestTimeout = .milliseconds(300)
        try await withControlServer(limits: limits) { path in
            let (otherPing, otherTook, answer, answerTook, afterwards) = try await offPool {
                let slow = try ControlClient(socketPath: path)
                try slow.write(Array(#"{"v":1,"op":"pi"#.utf8), deadline: .now + .seconds(1), timeout: .seconds(1))
                let clock = ContinuousClock()
                let start = clock.now
                let otherPing = try ControlClient(socketPath: path).ping()
                let otherTook = start.duration(to: clock.now)
                let answer = try slow.receive()
                let answerTook = start.duration(to: clock.now)
                let afterwards = clientError { _ = try slow.readLine(deadline: .now + .seconds(2), timeout: .seconds(2)) }
                return (otherPing, otherTook, answer, answerTook, afterwards)
            }
            #expect(otherPing == 4242)
            #expect(otherTook < .milliseconds(300), "not held up by the half-sent request")
            #expect(answer.error?.code == .timeout)
            #expect(answerTook >= .milliseconds(250))
            #expect(afterwards?.isConnectionLost == true, "\(String(describing: afterwards))")
        }
    }

    @Test("connections over the cap are closed at once; the others are served")
    func connectionCap() async throws {
        var limits = ControlServer.Limits()
        limits.maxConnections = 2
        try await withControlServer(limits: limits) { path in
            let (first, second, third, firstAgain) = try await offPool {
                let first = try ControlClient(socketPath: path)
                let second = try ControlClient(socketPath: path)
                let pings = (try first.ping(), try second.ping())
                let third = clientError { _ = try ControlClient(socketPath: path).ping() }
                return (pings.0, pings.1, third, try first.ping())
            }
            #expect(first == 4242)
            #expect(second == 4242)
            #expect(third?.isConnectionLost == true, "\(String(describing: third))")
            #expect(firstAgain == 4242)
        }
    }

    @Test("a second server on a live socket refuses to start; a stale socket file is replaced; other files are left alone")
    func socketFile() async throws {
        try await withControlServer { path in
            let reactor = try SocketReactor()
            defer { reactor.stop() }
            // The probe connects without waiting: a listening socket takes connections into its backlog.
            #expect(throws: SocketSetupError(path, "another process is listening on it (is spamguard already running?)")) {
                try ListeningSocket.unix(path: path, mode: 0o660, reactor: reactor)
            }
            var status = stat()
            #expect(stat(path, &status) == 0)
            #expect(status.st_mode & 0o777 == 0o660)
        }
        let directory = FileManager.default.temporaryDirectory.path + "/sg-stale-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let reactor = try SocketReactor()
        defer { reactor.stop() }
        let stale = try ListeningSocket.unix(path: directory + "/s.sock", mode: 0o600, reactor: reactor)
        // Leave the file behind as a crashed daemon would: close the descriptor while the file is elsewhere.
        let renamed = directory + "/kept.sock"
        try FileManager.default.moveItem(atPath: directory + "/s.sock", toPath: renamed)
        stale.close()
        try FileManager.default.moveItem(atPath: renamed, toPath: directory + "/s.sock")
        let fresh = try ListeningSocket.unix(path: directory + "/s.sock", mode: 0o600, reactor: reactor)
        fresh.close()
        #expect(!FileManager.default.fileExists(atPath: directory + "/s.sock"))
        try "not a socket".write(toFile: directory + "/file", atomically: true, encoding: .utf8)
        #expect(throws: SocketSetupError(directory + "/file", "exists and is not a socket; not touching it")) {
            try ListeningSocket.unix(path: directory + "/file", mode: 0o600, reactor: reactor)
        }
    }
}

@Suite("ControlResponder: decoding, versions, privilege")
struct ControlResponderTests {
    private func respond(_ line: String, uid: UInt32? = 0, operations: FakeOperations = FakeOperations()) async throws -> ControlResponse<NoResult> {
        let responder = ControlResponder(operations: operations, daemonUID: 110, logger: Logger(label: "test"))
        let bytes = await responder.respond(to: Array(line.utf8), from: uid.map { PeerCredentials(pid: 1, uid: $0, gid: $0) })
        #expect(bytes.last == UInt8(ascii: "\n"))
        #expect(bytes.dropLast().contains(UInt8(ascii: "\n")) == false, "one line per response")
        return try ControlCoding.decode(ControlResponse<NoResult>.self, from: bytes.dropLast())
    }

    @Test("root and the daemon's uid may reload; anyone else, or an unknown peer, is refused before anything happens")
    func privilege() async throws {
        let operations = FakeOperations()
        #expect(try await respond(#"{"v":1,"op":"reload"}"#, uid: 0, operations: operations).ok)
        #expect(try await respond(#"{"v":1,"op":"reload"}"#, uid: 110, operations: operations).ok)
        for uid in [UInt32(1000), 65534, nil] {
            let refused = try await respond(#"{"v":1,"id":5,"op":"reload"}"#, uid: uid, operations: operations)
            #expect(refused.error?.code == .forbidden)
            #expect(refused.id == .number(5))
        }
        #expect(operations.reloads.withLock { $0 } == 2)
        // Reading is for everyone who can open the socket.
        #expect(try await respond(#"{"v":1,"op":"stats"}"#, uid: 65534).ok)
    }

    @Test("malformed requests get bad_request, with the id when there is one")
    func malformed() async throws {
        for (line, id) in [("{", nil), ("[]", nil), (#"{"id":9,"op":"ping"}"#, RequestID.number(9)), (#"{"v":1,"id":"a"}"#, .string("a")),
                           (#"{"v":0,"op":"ping"}"#, nil), ("\u{FF}\u{FE}", nil)] as [(String, RequestID?)] {
            let response = try await respond(line)
            #expect(response.error?.code == .badRequest, "\(line)")
            #expect(response.id == id, "\(line)")
        }
        #expect(try await respond(#"{"v":2,"op":"ping"}"#).error?.code == .unsupportedVersion)
    }
}

@Suite("SocketReactor: readiness, deadlines, cancellation")
struct SocketReactorTests {
    private func pipePair() -> (read: Int32, write: Int32) {
        var descriptors: [Int32] = [0, 0]
        _ = pipe(&descriptors)
        _ = fcntl(descriptors[0], F_SETFL, O_NONBLOCK)
        return (descriptors[0], descriptors[1])
    }

    @Test("a wait ends when data arrives, at its deadline, or when its task is cancelled")
    func waits() async throws {
        let reactor = try SocketReactor()
        defer { reactor.stop() }
        let (readEnd, writeEnd) = pipePair()
        defer { close(readEnd); close(writeEnd) }

        let clock = ContinuousClock()
        var start = clock.now
        await #expect(throws: SocketReactor.TimedOut()) {
            try await reactor.wait(for: .readable, on: readEnd, until: .now + .milliseconds(100))
        }
        #expect(start.duration(to: clock.now) >= .milliseconds(100))

        let waiter = Task { try await reactor.wait(for: .readable, on: readEnd, until: .now + .seconds(10)) }
        try await Task.sleep(for: .milliseconds(50))
        _ = write(writeEnd, "x", 1)
        try await waiter.value

        var byte: UInt8 = 0
        _ = read(readEnd, &byte, 1)
        start = clock.now
        let cancelled = Task { try await reactor.wait(for: .readable, on: readEnd) }
        try await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(start.duration(to: clock.now) < .seconds(2))
        // The descriptor can be waited on again after each of those endings.
        _ = write(writeEnd, "y", 1)
        try await reactor.wait(for: .readable, on: readEnd, until: .now + .seconds(5))
    }

    @Test("stopping the reactor ends every wait")
    func stop() async throws {
        let reactor = try SocketReactor()
        let (readEnd, writeEnd) = pipePair()
        defer { close(readEnd); close(writeEnd) }
        let waiter = Task { try await reactor.wait(for: .readable, on: readEnd) }
        try await Task.sleep(for: .milliseconds(50))
        reactor.stop()
        await #expect(throws: SocketReactor.Stopped()) { try await waiter.value }
        await #expect(throws: SocketReactor.Stopped()) { try await reactor.wait(for: .readable, on: readEnd) }
    }
}

@Suite("Metrics endpoint: the HTTP it speaks")
struct MetricsEndpointTests {
    @Test("request heads: complete or not yet, good or bad")
    func heads() throws {
        #expect(try HTTPRequestHead(parsing: Array("GET /metrics HTTP/1.1\r\nHost: x\r\n".utf8)) == nil)
        #expect(try HTTPRequestHead(parsing: Array("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n".utf8)) == HTTPRequestHead(method: "GET", path: "/metrics"))
        for bad in ["GET\r\n\r\n", "GET /metrics\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n", "GET /metrics SMTP/1.0\r\n\r\n"] {
            #expect(throws: HTTPHeadError(status: .badRequest), "\(bad)") { try HTTPRequestHead(parsing: Array(bad.utf8)) }
        }
    }

    @Test("GET /metrics is the exposition; other paths 404, other methods 405")
    func responses() async {
        let export = PrometheusExport(process: ProcessFacts())
        _ = MessageCounters(restoring: .init(tagged: 3), metrics: export.factory)
        let refreshed = Mutex(0)
        let refresh: @Sendable () -> Void = { refreshed.withLock { $0 += 1 } }
        let ok = await MetricsEndpoint.respond(to: HTTPRequestHead(method: "GET", path: "/metrics"), export: export, refresh: refresh)
        let text = String(decoding: ok.bytes, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: \(ok.body.count)\r\nConnection: close\r\n\r\n"))
        #expect(text.contains("spamguard_messages_total{outcome=\"tagged\"} 3\n"))
        #expect(text.contains("# TYPE process_resident_memory_bytes gauge\n"))
        #expect(refreshed.withLock { $0 } == 1)
        #expect(await MetricsEndpoint.respond(to: HTTPRequestHead(method: "GET", path: "/"), export: export, refresh: refresh).status == .notFound)
        let post = await MetricsEndpoint.respond(to: HTTPRequestHead(method: "POST", path: "/metrics"), export: export, refresh: refresh)
        #expect(post.status == .methodNotAllowed)
        #expect(String(decoding: post.bytes, as: UTF8.self).contains("Allow: GET\r\n"))
        #expect(refreshed.withLock { $0 } == 1, "only a scrape refreshes")
    }

    @Test("[metrics] listen: off by default; HOST:PORT taken; anything else refused with the key named")
    func configuration() throws {
        #expect(Configuration().metricsListen == nil)
        #expect(try Configuration(toml: "[metrics]\nlisten = \"\"\n", file: "t").metricsListen == nil)
        for good in ["127.0.0.1:9733", "[::1]:9733", "localhost:9733"] {
            #expect(try Configuration(toml: "[metrics]\nlisten = \"\(good)\"\n", file: "t").metricsListen == good)
        }
        for bad in ["9733", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "::1:9733", ":9733", "[::1]9733"] {
            #expect("\(bad)") { try Configuration(toml: "[metrics]\nlisten = \"\(bad)\"\n", file: "t") } throws: {
                ($0 as? ConfigurationError)?.key == "metrics.listen"
            }
        }
        #expect { try Configuration(toml: "[metrics]\nport = 9733\n", file: "t") } throws: {
            ($0 as? ConfigurationError)?.key == "metrics.port"
        }
    }

    @Test("the classifier info gauge follows the serving version")
    func classifierInfo() {
        let export = PrometheusExport(process: ProcessFacts())
        export.refresh(inFlight: 2, classifierVersion: "v1")
        export.refresh(inFlight: 0, classifierVersion: "v2")
        var text = String(decoding: export.exposition(), as: UTF8.self)
        #expect(text.contains("spamguard_classifier_info{version=\"v2\"} 1"))
        #expect(!text.contains("version=\"v1\""))
        #expect(text.contains("spamguard_messages_in_flight 0"))
        export.refresh(inFlight: 0, classifierVersion: nil)
        text = String(decoding: export.exposition(), as: UTF8.self)
        #expect(!text.contains("spamguard_classifier_info{"))
    }

    @Test("the learning loop's figures: feedback by state, paused, the last run; no series at all without the loop")
    func learningGauges() {
        let export = PrometheusExport(process: ProcessFacts())
        /// The sample lines, without the `# TYPE` lines (which stay once a series was made).
        func samples() -> [String] {
            String(decoding: export.exposition(), as: UTF8.self).split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
        }
        var feedback = LearningStatus.Feedback()
        feedback.waiting = 3
        feedback.learned = 120
        feedback.rejected = 2
        let run = LearningStatus.Run(id: 4, started: Date(timeIntervalSince1970: 1_764_000_000), seconds: 42.5, examples: 160,
                                     feedbackExamples: 40, replayedExamples: 120, outcome: "refused", reason: "worse", parent: "v1", candidate: "v2")
        var status = LearningStatus(enabled: true, paused: true, activity: "idle", feedback: feedback, lastRun: run,
                                    servingVersion: "v1", servingCreated: nil)
        export.refresh(inFlight: 0, classifierVersion: "v1", classifierCreated: Date(timeIntervalSince1970: 1_763_000_000), learning: status)
        var lines = samples()
        for line in ["spamguard_feedback_messages{state=\"waiting\"} 3.0", "spamguard_feedback_messages{state=\"learned\"} 120.0",
                     "spamguard_feedback_messages{state=\"rejected\"} 2.0", "spamguard_feedback_messages{state=\"untrained\"} 0.0",
                     "spamguard_training_paused 1.0", "spamguard_training_last_run_duration_seconds 42.5",
                     "spamguard_training_last_run_examples 160.0", "spamguard_training_last_run_outcome{outcome=\"refused\"} 1.0",
                     "spamguard_training_last_run_start_timestamp_seconds 1764000000.0",
                     "spamguard_classifier_created_timestamp_seconds 1763000000.0"] {
            #expect(lines.contains(line), "\(line) in \(lines)")
        }
        status.paused = false
        status.lastRun?.outcome = "promoted"
        export.refresh(inFlight: 0, classifierVersion: "v1", learning: status)
        lines = samples()
        #expect(lines.contains("spamguard_training_paused 0.0"))
        #expect(lines.contains("spamguard_training_last_run_outcome{outcome=\"promoted\"} 1.0"))
        #expect(!lines.contains { $0.contains("outcome=\"refused\"") })
        #expect(!lines.contains { $0.hasPrefix("spamguard_classifier_created_timestamp_seconds") }, "no creation time known")
        export.refresh(inFlight: 0, classifierVersion: "v1", learning: nil)
        lines = samples()
        #expect(!lines.contains { $0.hasPrefix("spamguard_feedback_") || $0.hasPrefix("spamguard_training_") }, "\(lines)")
    }
}

@Suite("RequestPacer and LogThrottle: bounded work for any number of clients")
struct PacingTests {
    @Test("a burst goes at once, then one request per interval; an idle pacer refills")
    func pacer() {
        let pacer = RequestPacer(perSecond: 10, burst: 3)
        let start = ContinuousClock.now
        let turns = (0..<5).map { _ in start.duration(to: pacer.reserve(at: start)) }
        #expect(turns == [.zero, .zero, .zero, .milliseconds(100), .milliseconds(200)])
        let later = start + .seconds(2)
        #expect((0..<4).map { _ in later.duration(to: pacer.reserve(at: later)) } == [.zero, .zero, .zero, .milliseconds(100)])
    }

    @Test("one line per second gets through, saying how many were held back")
    func throttle() {
        let throttle = LogThrottle(interval: .seconds(1))
        let start = ContinuousClock.now
        let admitted = [0, 500, 900, 1000, 1100, 2500].map { throttle.admit(at: start + .milliseconds($0)) }
        #expect(admitted == [0, nil, nil, 2, nil, 1])
        #expect(LogThrottle.suffix(2) == " (and 2 similar since the last one)")
        #expect(LogThrottle.suffix(0) == "")
    }

    @Test("the control server answers no faster than its rate, over all connections together")
    func serverIsPaced() async throws {
        var limits = ControlServer.Limits()
        limits.requestsPerSecond = 20
        limits.burst = 5
        try await withControlServer(limits: limits) { path in
            let elapsed = try await offPool {
                let clock = ContinuousClock()
                let start = clock.now
                let clients = try (0..<5).map { _ in try ControlClient(socketPath: path) }
                for _ in 0..<5 {
                    for client in clients { _ = try client.ping() }
                }
                return start.duration(to: clock.now)
            }
            // 25 answers: 5 at once, then 20 at 50 ms each.
            #expect(elapsed >= .milliseconds(950), "\(elapsed)")
        }
    }
}
