/// Splits a byte stream into `\n`-terminated lines, refusing any line longer than `limit` bytes (newline
/// included) however it arrives in chunks. A `\r` before the newline is dropped.
public struct LineBuffer: Sendable {
    public struct LineTooLong: Error, Equatable, CustomStringConvertible {
        public let limit: Int
        public var description: String { "a line is longer than \(limit) bytes" }
    }

    public let limit: Int
    private var bytes: [UInt8] = []
    /// Start of the first line not yet returned.
    private var start = 0
    /// Bytes from `start` up to here hold no newline (so a search never rescans them).
    private var scanned = 0

    public init(limit: Int = ControlProtocol.maxLineBytes) {
        precondition(limit > 0)
        self.limit = limit
    }

    public mutating func append(_ chunk: some Collection<UInt8>) {
        if start > 0, start >= bytes.count / 2 {
            bytes.removeSubrange(..<start)
            scanned -= start
            start = 0
        }
        bytes.append(contentsOf: chunk)
    }

    /// The next complete line without its line end, or nil until more bytes arrive.
    /// - Throws: `LineTooLong` once the current line exceeds `limit`; the buffer is unusable after that.
    public mutating func nextLine() throws(LineTooLong) -> ArraySlice<UInt8>? {
        guard let newline = bytes[scanned...].firstIndex(of: UInt8(ascii: "\n")) else {
            scanned = bytes.count
            if bytes.count - start >= limit { throw LineTooLong(limit: limit) }
            return nil
        }
        guard newline + 1 - start <= limit else { throw LineTooLong(limit: limit) }
        var end = newline
        if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = bytes[start..<end]
        start = newline + 1
        scanned = start
        return line
    }

    /// Bytes of a line begun but not finished.
    public var pendingCount: Int { bytes.count - start }
}
