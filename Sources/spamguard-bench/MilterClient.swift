import ControlProtocol
import Foundation
import Glibc

/// One message as an MTA presents it to a milter: header fields (name, value), then the body.
struct MilterMessage: Sendable {
    var headers: [(name: String, value: [UInt8])]
    /// The body with CRLF line ends, as Postfix sends it.
    var body: [UInt8]
    /// Size of the raw message.
    var size: Int

    /// Splits a raw message (LF or CRLF line ends; an mbox `From ` line first is dropped) the way Postfix
    /// hands it to milters: each field unfolded into name and value — the blanks after the colon dropped, a
    /// folded value's lines joined by LF — and the body after the blank line with CRLF line ends. A line that
    /// is neither a field nor a continuation ends the header section, as in the daemon's own parser.
    init(raw: [UInt8]) {
        size = raw.count
        headers = []
        var index = 0, bodyStart = raw.count
        while index < raw.count {
            let newline = raw[index...].firstIndex(of: 0x0A) ?? raw.count
            let next = min(newline + 1, raw.count)
            var end = newline
            if end > index, raw[end - 1] == 0x0D { end -= 1 }
            let line = raw[index..<end]
            if line.isEmpty {
                bodyStart = next
                break
            }
            if index == 0, line.starts(with: "From ".utf8) {
                index = next
                continue
            }
            if line.first == 0x20 || line.first == 0x09 {
                if !headers.isEmpty { headers[headers.count - 1].value += [0x0A] + line }
                index = next
                continue
            }
            guard let (name, value) = Self.field(line) else {
                bodyStart = index
                break
            }
            headers.append((name, value))
            index = next
        }
        body = Self.crlf(raw[bodyStart...])
    }

    private static func field(_ line: ArraySlice<UInt8>) -> (String, [UInt8])? {
        var i = line.startIndex
        while i < line.endIndex, line[i] > 0x20, line[i] < 0x7F, line[i] != UInt8(ascii: ":") { i += 1 }
        guard i > line.startIndex else { return nil }
        let nameEnd = i
        while i < line.endIndex, line[i] == 0x20 || line[i] == 0x09 { i += 1 }
        guard i < line.endIndex, line[i] == UInt8(ascii: ":") else { return nil }
        i += 1
        while i < line.endIndex, line[i] == 0x20 || line[i] == 0x09 { i += 1 }
        return (String(decoding: line[line.startIndex..<nameEnd], as: UTF8.self), Array(line[i...]))
    }

    private static func crlf(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 32)
        var previous: UInt8 = 0
        for byte in bytes {
            if byte == 0x0A, previous != 0x0D { out.append(0x0D) }
            out.append(byte)
            previous = byte
        }
        if !out.isEmpty, out.last != 0x0A { out += [0x0D, 0x0A] }
        return out
    }
}

struct MilterClientError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// What the filter answered at end-of-message: its header edits and its final reply.
struct EndOfMessageReply {
    /// SMFIR_ADDHEADER and SMFIR_INSHEADER.
    var added: [(name: String, value: String)] = []
    /// SMFIR_CHGHEADER (an empty value deletes).
    var changed: [(name: String, index: UInt32, value: String)] = []
    var quarantine: String?
    /// The final reply's command: `c` continue, `a` accept, `r` reject, `t` tempfail, `y` reply code, `d` discard…
    var final: UInt8 = 0
    /// SMFIR_REPLYCODE's text.
    var replyText: String?

    func header(_ name: String) -> String? {
        added.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// The MTA side of one milter connection, protocol version 6, spoken the way Postfix's smtpd speaks it:
/// it offers every protocol step and action, then honours the filter's answer — steps it does not want are
/// not sent (their macros still are), replies it will not send are not waited for, and after SMFIR_SKIP no
/// more body chunks go out. Commands are buffered and sent together when a reply is awaited.
/// Blocking I/O with a timeout on a Unix socket; one connection per thread.
final class MilterConnection {
    // Commands (MTA → filter) and replies (filter → MTA): libmilter's mfdef.h.
    enum Command {
        static let abort = UInt8(ascii: "A"), body = UInt8(ascii: "B"), connect = UInt8(ascii: "C")
        static let macro = UInt8(ascii: "D"), endOfMessage = UInt8(ascii: "E"), helo = UInt8(ascii: "H")
        static let header = UInt8(ascii: "L"), mail = UInt8(ascii: "M"), endOfHeaders = UInt8(ascii: "N")
        static let optionNegotiation = UInt8(ascii: "O"), quit = UInt8(ascii: "Q"), recipient = UInt8(ascii: "R")
        static let data = UInt8(ascii: "T")
    }
    enum Flag {
        static let noConnect: UInt32 = 0x1, noHelo: UInt32 = 0x2, noMail: UInt32 = 0x4, noRecipient: UInt32 = 0x8
        static let noBody: UInt32 = 0x10, noHeaders: UInt32 = 0x20, noEndOfHeaders: UInt32 = 0x40
        static let noReplyHeader: UInt32 = 0x80, noData: UInt32 = 0x200
        static let noReplyConnect: UInt32 = 0x1000, noReplyHelo: UInt32 = 0x2000, noReplyMail: UInt32 = 0x4000
        static let noReplyRecipient: UInt32 = 0x8000, noReplyData: UInt32 = 0x10000, noReplyEndOfHeaders: UInt32 = 0x40000
        static let noReplyBody: UInt32 = 0x80000
        /// Everything protocol version 6 defines (SMFI_CURR_PROT): what Postfix offers with milter_protocol = 6.
        static let offered: UInt32 = 0x1F_FFFF
        /// SMFIF_ADDHDRS … SMFIF_SETSYMLIST (SMFI_CURR_ACTS).
        static let offeredActions: UInt32 = 0x1FF
    }
    static let maxChunk = 65535

    private let descriptor: Int32
    private var output: [UInt8] = []
    private var input = [UInt8](repeating: 0, count: 64 * 1024)
    private var inputStart = 0, inputEnd = 0
    /// The filter's protocol flags from negotiation: steps not to send, replies not to wait for.
    private(set) var filterFlags: UInt32 = 0
    private(set) var filterActions: UInt32 = 0
    /// When the last end-of-message was sent: the rest of a transaction's time is the filter's verdict.
    private(set) var endOfMessageSent: ContinuousClock.Instant?

    /// Connects to the filter's Unix socket and negotiates.
    init(socketPath: String, timeoutSeconds: Int) throws {
        guard let address = sockaddr_un(path: socketPath) else { throw MilterClientError("socket path too long: \(socketPath)") }
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw MilterClientError("socket: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard address.withSocketAddress({ Glibc.connect(descriptor, $0, $1) }) == 0 else {
            let error = errno
            close(descriptor)
            throw MilterClientError("connect \(socketPath): \(String(cString: strerror(error)))")
        }
        try negotiate()
    }

    deinit { close(descriptor) }

    private func negotiate() throws {
        queue(Command.optionNegotiation, Self.uint32(6) + Self.uint32(Flag.offeredActions) + Self.uint32(Flag.offered))
        let (command, data) = try readReply()
        guard command == Command.optionNegotiation, data.count >= 12 else {
            throw MilterClientError("option negotiation answered with '\(Self.name(command))' (\(data.count) bytes)")
        }
        let version = Self.uint32(data, at: 0)
        guard version >= 2 else { throw MilterClientError("the filter speaks milter protocol version \(version)") }
        filterActions = Self.uint32(data, at: 4)
        filterFlags = Self.uint32(data, at: 8)
        // Bytes after the first 12 name macros the filter asks for (SMFIR_SETSYMLIST); Postfix's defaults are sent anyway.
    }

    /// CONNECT and HELO, each with Postfix's default macros for the step.
    func open(client: String, address: String, port: UInt16, helo: String) throws {
        let macros = [("j", "mx.example.net"), ("{daemon_name}", "mx.example.net"), ("{daemon_addr}", "192.0.2.1"),
                      ("v", "Postfix 3.7.11"), ("_", "\(client) [\(address)]")]
        var payload = Self.string(client) + [UInt8(ascii: "4")] + [UInt8(port >> 8), UInt8(port & 0xFF)] + Self.string(address)
        try step(Command.connect, payload, macros: macros, skip: Flag.noConnect, noReply: Flag.noReplyConnect)
        payload = Self.string(helo)
        try step(Command.helo, payload, macros: [], skip: Flag.noHelo, noReply: Flag.noReplyHelo)
    }

    /// One mail transaction, MAIL FROM to end-of-message: the filter's answer at end-of-message.
    func transaction(_ message: MilterMessage, queueID: String, sender: String, recipient: String) throws -> EndOfMessageReply {
        let id = [("i", queueID)]
        try step(Command.mail, Self.string("<\(sender)>"), macros: id + [("{mail_addr}", sender)], skip: Flag.noMail, noReply: Flag.noReplyMail)
        try step(Command.recipient, Self.string("<\(recipient)>"),
                 macros: id + [("{rcpt_addr}", recipient), ("{rcpt_host}", "mail.example.net"), ("{rcpt_mailer}", "smtp")],
                 skip: Flag.noRecipient, noReply: Flag.noReplyRecipient)
        try step(Command.data, [], macros: id, skip: Flag.noData, noReply: Flag.noReplyData)
        for (name, value) in message.headers {
            try step(Command.header, Self.string(name) + value + [0], macros: [], skip: Flag.noHeaders, noReply: Flag.noReplyHeader)
        }
        try step(Command.endOfHeaders, [], macros: id, skip: Flag.noEndOfHeaders, noReply: Flag.noReplyEndOfHeaders)
        var offset = 0
        while offset < message.body.count {
            let end = min(offset + Self.maxChunk, message.body.count)
            let skipped = try step(Command.body, Array(message.body[offset..<end]), macros: [], skip: Flag.noBody, noReply: Flag.noReplyBody)
            if skipped { break }
            offset = end
        }
        queueMacros(for: Command.endOfMessage, id)
        queue(Command.endOfMessage, [])
        endOfMessageSent = .now
        var reply = EndOfMessageReply()
        while true {
            let (command, data) = try readReply()
            var fields = Fields(data)
            switch command {
            case UInt8(ascii: "h"):
                reply.added.append((try fields.string(), try fields.string()))
            case UInt8(ascii: "i"):
                _ = try fields.uint32()
                reply.added.append((try fields.string(), try fields.string()))
            case UInt8(ascii: "m"):
                let index = try fields.uint32()
                reply.changed.append((try fields.string(), index, try fields.string()))
            case UInt8(ascii: "q"):
                reply.quarantine = try fields.string()
            case UInt8(ascii: "p"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "2"), UInt8(ascii: "e"), UInt8(ascii: "b"):
                continue
            case UInt8(ascii: "y"):
                reply.replyText = try fields.string()
                reply.final = command
                return reply
            default:
                reply.final = command
                return reply
            }
        }
    }

    /// Ends the transaction so that another can follow on this connection (SMFIC_ABORT, no reply).
    func abortTransaction() {
        queue(Command.abort, [])
    }

    /// SMFIC_QUIT: the SMTP session is over; the filter closes the connection.
    func quit() {
        queue(Command.quit, [])
        try? flush()
    }

    /// Sends the step's macros, then the step unless the filter asked not to get it, then waits for the
    /// reply unless the filter will not send one. Returns true when the filter answered SMFIR_SKIP.
    @discardableResult
    private func step(_ command: UInt8, _ payload: [UInt8], macros: [(String, String)], skip: UInt32, noReply: UInt32) throws -> Bool {
        if !macros.isEmpty { queueMacros(for: command, macros) }
        guard filterFlags & skip == 0 else { return false }
        queue(command, payload)
        guard filterFlags & noReply == 0 else {
            if output.count >= 256 * 1024 { try flush() }
            return false
        }
        let (reply, data) = try readReply()
        switch reply {
        case UInt8(ascii: "c"): return false
        case UInt8(ascii: "s") where command == Command.body: return true
        case UInt8(ascii: "a"):
            throw MilterClientError("the filter accepted the message at '\(Self.name(command))', before end-of-message: it did not scan it")
        default:
            let text = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
            throw MilterClientError("the filter answered '\(Self.name(reply))' \(text) to '\(Self.name(command))'")
        }
    }

    private func queueMacros(for command: UInt8, _ macros: [(String, String)]) {
        var payload = [command]
        for (name, value) in macros { payload += Self.string(name) + Self.string(value) }
        queue(Command.macro, payload)
    }

    private func queue(_ command: UInt8, _ payload: [UInt8]) {
        output += Self.uint32(UInt32(payload.count + 1))
        output.append(command)
        output += payload
    }

    private func flush() throws {
        var offset = 0
        defer { output.removeAll(keepingCapacity: true) }
        while offset < output.count {
            let sent = output.withUnsafeBytes { send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == EINTR { continue }
                throw MilterClientError("writing to the filter: \(String(cString: strerror(errno)))")
            }
            offset += sent
        }
    }

    /// Flushes what is queued, then reads one packet, skipping SMFIR_PROGRESS.
    private func readReply() throws -> (UInt8, [UInt8]) {
        try flush()
        while true {
            let length = Int(Self.uint32(try read(4), at: 0))
            guard length >= 1, length <= 1 << 24 else { throw MilterClientError("bad packet length \(length) from the filter") }
            let packet = try read(length)
            if packet[0] == UInt8(ascii: "p") { continue }
            return (packet[0], Array(packet[1...]))
        }
    }

    private func read(_ count: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            if inputStart == inputEnd {
                let received = input.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                if received < 0 {
                    if errno == EINTR { continue }
                    let reason = errno == EAGAIN ? "timed out" : String(cString: strerror(errno))
                    throw MilterClientError("reading from the filter: \(reason)")
                }
                if received == 0 { throw MilterClientError("the filter closed the connection") }
                inputStart = 0
                inputEnd = received
            }
            let take = min(count - out.count, inputEnd - inputStart)
            out += input[inputStart..<(inputStart + take)]
            inputStart += take
        }
        return out
    }

    private struct Fields {
        let data: [UInt8]
        var offset = 0
        init(_ data: [UInt8]) { self.data = data }

        mutating func uint32() throws -> UInt32 {
            guard offset + 4 <= data.count else { throw MilterClientError("reply too short") }
            defer { offset += 4 }
            return MilterConnection.uint32(data, at: offset)
        }

        mutating func string() throws -> String {
            guard let end = data[offset...].firstIndex(of: 0) else { throw MilterClientError("reply string without NUL") }
            defer { offset = end + 1 }
            return String(decoding: data[offset..<end], as: UTF8.self)
        }
    }

    private static func uint32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    fileprivate static func uint32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }

    private static func string(_ text: String) -> [UInt8] { Array(text.utf8) + [0] }

    private static func name(_ command: UInt8) -> String { String(UnicodeScalar(command)) }
}
