#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The control socket's protocol: JSON lines over a Unix stream socket (see docs/control-protocol.md).
///
/// A client writes one request object per line and reads one response line per request, in order:
///
///     {"v":1,"id":7,"op":"stats"}
///     {"v":1,"id":7,"ok":true,"result":{…}}
///     {"v":1,"id":8,"ok":false,"error":{"code":"unknown_op","message":"…"}}
///
/// New operations and new result fields slot in without a new version: unknown request and result fields are
/// ignored, an unknown operation is answered with `unknown_op`. `v` goes up only for a change old peers would
/// misread.
public enum ControlProtocol {
    /// The version this build speaks.
    public static let version = 1
    /// The longest line either side accepts, newline included.
    public static let maxLineBytes = 64 * 1024
    /// The longest request line the daemon accepts from root and its own user (whose `learn` carries whole
    /// messages), when its configuration does not call for more.
    public static let maxPrivilegedLineBytes = 16 << 20
}

/// The operations this build knows. The wire carries the raw value, so a daemon can be asked for an
/// operation it does not know (and answers `unknown_op`).
public enum ControlOperation: String, Sendable, CaseIterable, Codable {
    /// Liveness: does the daemon answer?
    case ping
    /// A one-line summary: model, message count, uptime.
    case status
    /// Everything `spamguardctl stats` shows.
    case stats
    /// Re-read the configuration and the classifier.
    case reload
    /// The classifier versions with their figures, which one serves, refused candidates.
    case models
    /// Serve another stored version (`args.version`; absent: the one before the serving one).
    case rollback
    /// Hold training until `resume-training`.
    case pauseTraining = "pause-training"
    case resumeTraining = "resume-training"
    /// Train at the next chance without waiting for idleness.
    case trainNow = "train-now"
    /// Hand the learning loop corrections (`args.label`, `args.messages`).
    case learn

    /// Operations that change the daemon's state are refused to peers that are neither root nor the
    /// daemon's own user.
    public var changesState: Bool {
        switch self {
        case .ping, .status, .stats, .models: false
        case .reload, .rollback, .pauseTraining, .resumeTraining, .trainNow, .learn: true
        }
    }
}

/// A request's `id`: any JSON number or string, echoed in the response. Optional.
public enum RequestID: Sendable, Hashable, Codable, CustomStringConvertible {
    case number(Int64)
    case string(String)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) {
            self = .number(number)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let number): try container.encode(number)
        case .string(let string): try container.encode(string)
        }
    }

    public var description: String {
        switch self {
        case .number(let number): "\(number)"
        case .string(let string): "\"\(string)\""
        }
    }
}

/// One request line.
public struct ControlRequest: Sendable, Equatable, Codable {
    public var v: Int
    public var id: RequestID?
    /// A `ControlOperation` raw value, or something newer.
    public var op: String
    /// The operation's arguments, for the few that take any.
    public var args: ControlArguments? = nil

    public init(_ operation: ControlOperation, id: RequestID? = nil, args: ControlArguments? = nil) {
        self.v = ControlProtocol.version
        self.id = id
        self.op = operation.rawValue
        self.args = args
    }

    public init(v: Int, id: RequestID?, op: String) {
        self.v = v
        self.id = id
        self.op = op
    }
}

/// An error code on the wire. A struct rather than an enum so that a client decodes codes newer than itself.
public struct ControlErrorCode: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    /// Not a JSON object, or `v` or `op` missing or of the wrong type.
    public static let badRequest = Self(rawValue: "bad_request")
    /// `v` is newer than the daemon speaks.
    public static let unsupportedVersion = Self(rawValue: "unsupported_version")
    /// The daemon does not know `op`.
    public static let unknownOperation = Self(rawValue: "unknown_op")
    /// The operation changes state and the peer is neither root nor the daemon's user.
    public static let forbidden = Self(rawValue: "forbidden")
    /// The request line is longer than `ControlProtocol.maxLineBytes`; the daemon closes the connection.
    public static let tooLarge = Self(rawValue: "too_large")
    /// No complete request line in time; the daemon closes the connection.
    public static let timeout = Self(rawValue: "timeout")
    /// Reload: the configuration file was refused; nothing changed.
    public static let configurationRefused = Self(rawValue: "config_refused")
    /// Reload: the configuration was applied but the classifier was refused; the old one keeps serving.
    public static let modelRefused = Self(rawValue: "model_refused")
    /// The daemon is stopping.
    public static let unavailable = Self(rawValue: "unavailable")
    /// A learning operation, and the daemon runs without its learning loop (`[feedback] enabled = false`, or its
    /// state could not be opened).
    public static let learningOff = Self(rawValue: "learning_off")
    /// Rollback: no such version, or none older than the serving one; nothing changed.
    public static let rollbackRefused = Self(rawValue: "rollback_refused")
    /// The operation failed on the daemon's side (e.g. a file could not be written); the message says why.
    public static let failed = Self(rawValue: "failed")
}

/// The `error` object of a failed request.
public struct ControlFailure: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    public var code: ControlErrorCode
    public var message: String

    public init(_ code: ControlErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(message) (\(code))" }
}

/// One response line: `result` when `ok`, `error` otherwise.
public struct ControlResponse<Result: Codable & Sendable>: Sendable, Codable {
    public var v: Int
    public var id: RequestID?
    public var ok: Bool
    public var result: Result?
    public var error: ControlFailure?

    public static func success(_ result: Result, id: RequestID?) -> Self {
        Self(v: ControlProtocol.version, id: id, ok: true, result: result, error: nil)
    }

    public static func failure(_ failure: ControlFailure, id: RequestID?) -> Self {
        Self(v: ControlProtocol.version, id: id, ok: false, result: nil, error: failure)
    }
}

/// The result type of a response that carries none (errors).
public struct NoResult: Sendable, Codable, Equatable {
    public init() {}
}

/// Encodes and decodes protocol values: compact JSON, sorted keys, ISO 8601 dates (seconds, UTC).
public enum ControlCoding {
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return Array(try encoder.encode(value))
    }

    /// One line: the encoded value and a newline (JSON never contains a raw newline).
    public static func line(_ value: some Encodable) throws -> [UInt8] {
        try encode(value) + [UInt8(ascii: "\n")]
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: some Collection<UInt8>) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(type, from: Data(bytes))
    }
}
