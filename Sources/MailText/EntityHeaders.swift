/// The header fields extraction looks at. All others are skipped without being stored.
enum HeaderField: Int, CaseIterable, Sendable {
    case subject, from, to, cc, replyTo, date, messageID, xMailer, userAgent
    case contentType, contentTransferEncoding, contentDisposition
    case received

    var name: String {
        switch self {
        case .subject: "Subject"
        case .from: "From"
        case .to: "To"
        case .cc: "Cc"
        case .replyTo: "Reply-To"
        case .date: "Date"
        case .messageID: "Message-ID"
        case .xMailer: "X-Mailer"
        case .userAgent: "User-Agent"
        case .contentType: "Content-Type"
        case .contentTransferEncoding: "Content-Transfer-Encoding"
        case .contentDisposition: "Content-Disposition"
        case .received: "Received"
        }
    }

    /// Case-insensitive; nil for fields nobody needs.
    init?(name: UnsafeBufferPointer<UInt8>) {
        guard let candidates = Self.byLength[name.count],
            let match = candidates.first(where: { Self.equalsIgnoringCase(name, $0.lowercased) })
        else { return nil }
        self = match.field
    }

    private static let byLength: [Int: [(field: HeaderField, lowercased: [UInt8])]] = Dictionary(
        grouping: allCases.map { ($0, Array($0.name.lowercased().utf8)) }, by: { $0.1.count })

    private static func equalsIgnoringCase(_ a: UnsafeBufferPointer<UInt8>, _ lowercase: [UInt8]) -> Bool {
        for (x, y) in zip(a, lowercase) {
            let folded = x >= UInt8(ascii: "A") && x <= UInt8(ascii: "Z") ? x + 32 : x
            if folded != y { return false }
        }
        return true
    }
}

/// Fields of one MIME entity (the message, a part, an attached message) that extraction uses.
/// The first of each kind is kept; values are unfolded and capped at `valueLimit` bytes so a
/// hostile header costs bounded memory.
struct EntityHeaders: Sendable {
    static let valueLimit = 16 * 1024
    /// The most Received values kept (the newest, top of the section); all are counted.
    static let receivedLimit = 8

    private var values: [[UInt8]?] = Array(repeating: nil, count: HeaderField.allCases.count)
    private(set) var receivedCount = 0
    /// The first `receivedLimit` Received values, newest first.
    private(set) var received: [[UInt8]] = []

    subscript(field: HeaderField) -> [UInt8]? { values[field.rawValue] }

    /// Whether a value for `field` would be kept; callers skip collecting it otherwise.
    func wants(_ field: HeaderField) -> Bool {
        field == .received ? received.count < Self.receivedLimit : values[field.rawValue] == nil
    }

    mutating func add(_ field: HeaderField, value: [UInt8], problems: inout ProblemLog) {
        if field == .received {
            receivedCount += 1
            if received.count < Self.receivedLimit && !value.isEmpty { received.append(value) }
            return
        }
        guard values[field.rawValue] == nil else {
            problems.note("repeated \(field.name) header; the first is used")
            return
        }
        values[field.rawValue] = value
    }

    /// Adds a field whose value comes folded, as an MTA passes it to a milter.
    mutating func add(_ field: HeaderField, foldedValue: some Collection<UInt8>, problems: inout ProblemLog) {
        guard wants(field) else {
            add(field, value: [], problems: &problems)
            return
        }
        var value: [UInt8] = []
        for byte in foldedValue where byte != 0x0D && byte != 0x0A {
            guard value.count < Self.valueLimit else {
                problems.note("\(field.name) header longer than \(Self.valueLimit) bytes cut")
                break
            }
            value.append(byte)
        }
        add(field, value: value, problems: &problems)
    }
}
