import Logging
import ServiceLifecycle

/// The Prometheus endpoint (`[metrics] listen`, off by default): a minimal HTTP/1.1 responder that serves
/// `GET /metrics` and nothing else, one request per connection, at most `scrapesPerSecond` (any local user can
/// reach a TCP port; a scrape every few seconds is what Prometheus needs).
public struct MetricsEndpoint: Service {
    public struct Limits: Sendable {
        /// The request line and headers together.
        public var maxHeadBytes = 8 * 1024
        public var requestTimeout: Duration = .seconds(5)
        public var maxConnections = 16
        /// Responses per second over all connections, after a burst of `burst`; more wait their turn.
        public var scrapesPerSecond = 20
        public var burst = 10

        public init() {}
    }

    let address: String
    let export: PrometheusExport
    /// Brings the scrape-time gauges up to date.
    let refresh: @Sendable () async -> Void
    let reactor: SocketReactor
    let limits: Limits
    let logger: Logger

    init(
        address: String, export: PrometheusExport, refresh: @escaping @Sendable () async -> Void, reactor: SocketReactor,
        limits: Limits = Limits(), logger: Logger
    ) {
        self.address = address
        self.export = export
        self.refresh = refresh
        self.reactor = reactor
        self.limits = limits
        self.logger = logger
    }

    public func run() async throws {
        let listener: ListeningSocket
        do {
            listener = try ListeningSocket.tcp(address, reactor: reactor)
        } catch {
            logger.critical("metrics endpoint: \(error)")
            throw error
        }
        defer { listener.close() }
        logger.info("Prometheus metrics on http://\(address)/metrics")
        let (export, refresh, limits, logger) = (self.export, self.refresh, self.limits, self.logger)
        let pacer = RequestPacer(perSecond: limits.scrapesPerSecond, burst: limits.burst)
        await cancelWhenGracefulShutdown {
            await acceptConnections(on: listener, maxConnections: limits.maxConnections, logger: logger) { connection in
                let deadline = ContinuousClock.now.advanced(by: limits.requestTimeout)
                let response: HTTPResponse
                do {
                    let head = try await Self.readHead(of: connection, limits: limits, until: deadline)
                    try await pacer.admit()
                    response = await Self.respond(to: head, export: export, refresh: refresh)
                } catch let error as HTTPHeadError {
                    response = HTTPResponse(status: error.status, body: Array("\(error.status.reason)\n".utf8))
                } catch {
                    return  // timed out, reset, or the daemon is stopping
                }
                try? await connection.write(response.bytes, until: deadline)
            }
        }
    }

    static func respond(to head: HTTPRequestHead, export: PrometheusExport, refresh: @Sendable () async -> Void) async -> HTTPResponse {
        guard head.path == "/metrics" else { return HTTPResponse(status: .notFound, body: Array("Not Found: try /metrics\n".utf8)) }
        guard head.method == "GET" else {
            return HTTPResponse(status: .methodNotAllowed, headers: [("Allow", "GET")], body: Array("Method Not Allowed\n".utf8))
        }
        await refresh()
        return HTTPResponse(status: .ok, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: export.exposition())
    }

    /// Reads up to the blank line ending the request head.
    static func readHead(of connection: StreamConnection, limits: Limits, until deadline: ContinuousClock.Instant) async throws -> HTTPRequestHead {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2048)
        while true {
            if let head = try HTTPRequestHead(parsing: received) { return head }
            guard received.count < limits.maxHeadBytes else { throw HTTPHeadError(status: .headerFieldsTooLarge) }
            let count = try await connection.read(into: &chunk, until: deadline)
            guard count > 0 else { throw HTTPHeadError(status: .badRequest) }
            received += chunk[..<count]
        }
    }
}

/// The request line of an HTTP/1.x request; headers are read past and ignored.
struct HTTPRequestHead: Equatable {
    var method: String
    /// The target without its query string.
    var path: String

    init(method: String, path: String) {
        self.method = method
        self.path = path
    }

    /// Nil until the head's blank line has arrived.
    init?(parsing bytes: [UInt8]) throws(HTTPHeadError) {
        let end: [UInt8] = [13, 10, 13, 10]
        guard let blank = bytes.indices.dropLast(3).first(where: { bytes[$0..<$0 + 4].elementsEqual(end) }) else {
            return nil
        }
        let lineEnd = bytes[..<blank].firstIndex(of: 13) ?? blank
        let parts = bytes[..<lineEnd].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].starts(with: Array("HTTP/1.".utf8)), !parts[0].isEmpty, parts[1].first == UInt8(ascii: "/") else {
            throw HTTPHeadError(status: .badRequest)
        }
        method = String(decoding: parts[0], as: UTF8.self)
        let target = parts[1]
        path = String(decoding: target.prefix { $0 != UInt8(ascii: "?") }, as: UTF8.self)
    }
}

struct HTTPHeadError: Error, Equatable {
    var status: HTTPResponse.Status
}

struct HTTPResponse: Equatable {
    struct Status: Equatable {
        var code: Int
        var reason: String

        static let ok = Status(code: 200, reason: "OK")
        static let badRequest = Status(code: 400, reason: "Bad Request")
        static let notFound = Status(code: 404, reason: "Not Found")
        static let methodNotAllowed = Status(code: 405, reason: "Method Not Allowed")
        static let headerFieldsTooLarge = Status(code: 431, reason: "Request Header Fields Too Large")
    }

    var status: Status
    var headers: [(String, String)] = [("Content-Type", "text/plain; charset=utf-8")]
    var body: [UInt8]

    init(status: Status, headers: [(String, String)] = [("Content-Type", "text/plain; charset=utf-8")], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    static func == (lhs: HTTPResponse, rhs: HTTPResponse) -> Bool {
        lhs.bytes == rhs.bytes
    }

    /// The whole response; every connection closes after one.
    var bytes: [UInt8] {
        var head = "HTTP/1.1 \(status.code) \(status.reason)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + body
    }
}
