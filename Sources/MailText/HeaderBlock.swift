/// Reads the header section of one entity line by line: unfolds fields and hands those that
/// extraction uses to `EntityHeaders`; values of other fields are not even copied.
///
/// Tolerant the way mail clients are: a first line that is an mbox `From ` separator is skipped
/// (when the section starts a raw message), a continuation line with no field before it is
/// ignored, and a line that is neither a field nor a continuation ends the section and is the
/// first line of the body, as if the blank line before it had been lost.
struct HeaderBlock: Sendable {
    enum Outcome { case continues, ended, endedByBodyLine }

    private let startsRawMessage: Bool
    private var linesSeen = 0
    /// The field whose value is being collected, if it is one that is kept.
    private var field: HeaderField?
    private var value: [UInt8] = []
    /// Whether a field is open, so that continuation lines belong to it.
    private var inField = false
    /// Whether the rest of the current line goes into `value`.
    private var collectingLine = false

    init(startsRawMessage: Bool) { self.startsRawMessage = startsRawMessage }

    var retainedBytes: Int { value.capacity }

    mutating func line(
        _ piece: UnsafeBufferPointer<UInt8>, first: Bool,
        headers: inout EntityHeaders, problems: inout ProblemLog
    ) -> Outcome {
        guard first else {
            if collectingLine { collect(piece, problems: &problems) }
            return .continues
        }
        defer { linesSeen += 1 }
        guard let c = piece.first else {
            finish(headers: &headers, problems: &problems)
            return .ended
        }
        if c == 0x20 || c == 0x09 {
            if !inField { problems.note("header continuation line with no field before it") }
            collectingLine = field != nil
            if collectingLine { collect(piece, problems: &problems) }
            return .continues
        }
        guard let colon = Self.fieldNameEnd(piece) else {
            collectingLine = false
            if startsRawMessage && linesSeen == 0 && piece.starts(with: "From ".utf8) { return .continues }
            finish(headers: &headers, problems: &problems)
            problems.note("header section ended by a line that is not a header field")
            return .endedByBodyLine
        }
        finish(headers: &headers, problems: &problems)
        inField = true
        var nameEnd = colon
        while nameEnd > 0, piece[nameEnd - 1] == 0x20 || piece[nameEnd - 1] == 0x09 { nameEnd -= 1 }
        if let kind = HeaderField(name: UnsafeBufferPointer(rebasing: piece[0..<nameEnd])) {
            if headers.wants(kind) {
                field = kind
            } else {
                headers.add(kind, value: [], problems: &problems) // counts Received, notes repeats
            }
        }
        collectingLine = field != nil
        if collectingLine {
            var valueStart = colon + 1
            while valueStart < piece.count, piece[valueStart] == 0x20 || piece[valueStart] == 0x09 { valueStart += 1 }
            collect(UnsafeBufferPointer(rebasing: piece[valueStart...]), problems: &problems)
        }
        return .continues
    }

    /// Ends the section where there is no blank line: at the end of the input or a boundary.
    mutating func finish(headers: inout EntityHeaders, problems: inout ProblemLog) {
        if let field {
            headers.add(field, value: Self.trimmed(value), problems: &problems)
        }
        field = nil
        value = []
        inField = false
        collectingLine = false
    }

    private mutating func collect(_ bytes: UnsafeBufferPointer<UInt8>, problems: inout ProblemLog) {
        let room = EntityHeaders.valueLimit - value.count
        if bytes.count > room {
            problems.note("\(field!.name) header longer than \(EntityHeaders.valueLimit) bytes cut")
        }
        value.append(contentsOf: UnsafeBufferPointer(rebasing: bytes.prefix(max(0, room))))
    }

    /// The index of the `:` after a field name (printable ASCII, optionally followed by blanks).
    private static func fieldNameEnd(_ line: UnsafeBufferPointer<UInt8>) -> Int? {
        var i = 0
        while i < line.count, line[i] > 0x20, line[i] < 0x7F, line[i] != UInt8(ascii: ":") { i += 1 }
        guard i > 0 else { return nil }
        while i < line.count, line[i] == 0x20 || line[i] == 0x09 { i += 1 }
        return i < line.count && line[i] == UInt8(ascii: ":") ? i : nil
    }

    private static func trimmed(_ value: [UInt8]) -> [UInt8] {
        let isBlank = { (c: UInt8) in c == 0x20 || c == 0x09 }
        guard let start = value.firstIndex(where: { !isBlank($0) }) else { return [] }
        return Array(value[start...value.lastIndex(where: { !isBlank($0) })!])
    }
}
