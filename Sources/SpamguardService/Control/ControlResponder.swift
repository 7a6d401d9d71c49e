import ControlProtocol
import Logging

/// Turns one request line into one response line: decode, check the version and the peer's privilege,
/// perform, encode. Never throws: anything wrong with a request becomes an error response.
public struct ControlResponder: Sendable {
    let operations: any ControlOperations
    /// The daemon's own user: it, and root, may change state.
    let daemonUID: UInt32
    let logger: Logger
    private let refusalLog = LogThrottle()

    public init(operations: any ControlOperations, daemonUID: UInt32, logger: Logger) {
        self.operations = operations
        self.daemonUID = daemonUID
        self.logger = logger
    }

    /// Root or the daemon's own user.
    func isPrivileged(_ peer: PeerCredentials?) -> Bool {
        guard let peer else { return false }
        return peer.uid == 0 || peer.uid == daemonUID
    }

    /// The response line (with its newline) for one request line (without).
    public func respond(to line: some Collection<UInt8>, from peer: PeerCredentials?) async -> [UInt8] {
        let request: ControlRequest
        do {
            request = try ControlCoding.decode(ControlRequest.self, from: line)
        } catch {
            // Echo the id if the line is an object with one, so a client can match the error to its request.
            let id = try? ControlCoding.decode(IDOnly.self, from: line).id
            logger.debug("control: malformed request from \(peer.map { "\($0)" } ?? "unknown peer"): \(error)")
            if let head = try? ControlCoding.decode(Head.self, from: line) {
                return Self.line(failure: ControlFailure(.badRequest, "the \"args\" of \(head.op) do not decode: \(Self.brief(error))"), id: id)
            }
            return Self.line(failure: ControlFailure(.badRequest, "not a request: expected a JSON object with \"v\" (a number) and \"op\" (a string)"), id: id)
        }
        guard request.v >= 1 else {
            return Self.line(failure: ControlFailure(.badRequest, "\"v\" must be 1 or more, found \(request.v)"), id: request.id)
        }
        guard request.v <= ControlProtocol.version else {
            return Self.line(
                failure: ControlFailure(.unsupportedVersion, "this daemon speaks protocol version \(ControlProtocol.version), not \(request.v)"),
                id: request.id
            )
        }
        guard let operation = ControlOperation(rawValue: request.op) else {
            let known = ControlOperation.allCases.map(\.rawValue).sorted().joined(separator: ", ")
            return Self.line(failure: ControlFailure(.unknownOperation, "unknown operation \"\(request.op)\" (this daemon knows \(known))"), id: request.id)
        }
        let who = peer.map { "\($0)" } ?? "unknown peer"
        if operation.changesState {
            guard isPrivileged(peer) else {
                if let heldBack = refusalLog.admit() {
                    logger.warning("control: refused \(operation.rawValue) from \(who): only root or the daemon's user (uid \(daemonUID)) may change state\(LogThrottle.suffix(heldBack))")
                }
                return Self.line(
                    failure: ControlFailure(
                        .forbidden,
                        "\(operation.rawValue) changes the daemon's state: only root or the daemon's user (uid \(daemonUID)) may ask, not uid \(peer.map { "\($0.uid)" } ?? "unknown")"
                    ),
                    id: request.id
                )
            }
            logger.notice("control: \(operation.rawValue) requested by \(who)")
        } else {
            logger.debug("control: \(operation.rawValue) from \(who)")
        }
        return await perform(operation, args: request.args, id: request.id)
    }

    private func perform(_ operation: ControlOperation, args: ControlArguments?, id: RequestID?) async -> [UInt8] {
        switch operation {
        case .ping: return Self.line(result: await operations.ping(), id: id)
        case .status: return Self.line(result: await operations.status(), id: id)
        case .stats: return Self.line(result: await operations.stats(), id: id)
        case .reload:
            switch await operations.reload() {
            case .success(let result): return Self.line(result: result, id: id)
            case .failure(let failure): return Self.line(failure: failure, id: id)
            }
        case .models:
            return await learning(operation, id: id) { try await $0.models() }
        case .rollback:
            return await learning(operation, id: id) { try await $0.rollback(to: args?.version) }
        // pause-training, resume-training, train-now answer with the state they leave.
        case .pauseTraining:
            return await learning(operation, id: id) { try await $0.pauseTraining(); return await $0.learningStatus() }
        case .resumeTraining:
            return await learning(operation, id: id) { try await $0.resumeTraining(); return await $0.learningStatus() }
        case .trainNow:
            return await learning(operation, id: id) { await $0.trainNow(); return await $0.learningStatus() }
        case .learn:
            guard let label = args?.label, let messages = args?.messages, !messages.isEmpty else {
                return Self.line(
                    failure: ControlFailure(.badRequest, #"learn takes "args": {"label": "spam" or "ham", "messages": [{"name": …, "data": base64}, …]}"#),
                    id: id
                )
            }
            return await learning(operation, id: id) { try await $0.learn(label, messages: messages) }
        }
    }

    /// Performs a learning loop operation: `learning_off` without the loop; a `ControlFailure` thrown keeps
    /// its code, anything else thrown is `failed` with its description.
    private func learning<Result: Codable & Sendable>(
        _ operation: ControlOperation, id: RequestID?, _ body: (any LearningOperations) async throws -> Result
    ) async -> [UInt8] {
        guard let learning = operations.learning else {
            return Self.line(
                failure: ControlFailure(
                    .learningOff,
                    "\(operation.rawValue): spamguard runs without its learning loop ([feedback] enabled = false, or its state could not be opened; see the log)"
                ),
                id: id
            )
        }
        do {
            return Self.line(result: try await body(learning), id: id)
        } catch let failure as ControlFailure {
            return Self.line(failure: failure, id: id)
        } catch {
            logger.error("control: \(operation.rawValue) failed: \(error)")
            return Self.line(failure: ControlFailure(.failed, "\(operation.rawValue) failed: \(error)"), id: id)
        }
    }

    private struct IDOnly: Decodable {
        var id: RequestID?
    }

    /// What is left of a request whose `args` do not decode.
    private struct Head: Decodable {
        var v: Int
        var op: String
    }

    /// What went wrong in a decoding, without the coding path's noise.
    static func brief(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .dataCorrupted(let context), .keyNotFound(_, let context), .typeMismatch(_, let context), .valueNotFound(_, let context):
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return path.isEmpty ? context.debugDescription : "\(path.dropFirst()): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    static func line(result: some Codable & Sendable, id: RequestID?) -> [UInt8] {
        encoded(ControlResponse.success(result, id: id))
    }

    static func line(failure: ControlFailure, id: RequestID?) -> [UInt8] {
        encoded(ControlResponse<NoResult>.failure(failure, id: id))
    }

    /// Our own response types always encode; should one ever not, the client still gets a line.
    private static func encoded(_ response: some Encodable) -> [UInt8] {
        (try? ControlCoding.line(response))
            ?? Array(#"{"error":{"code":"internal","message":"the response could not be encoded"},"ok":false,"v":1}"#.utf8) + [10]
    }
}
