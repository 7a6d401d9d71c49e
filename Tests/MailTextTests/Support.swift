@testable import MailText

/// A raw message from its lines, joined with CRLF unless told otherwise.
func raw(_ lines: [String], lineEnd: String = "\r\n") -> [UInt8] {
    Array(lines.joined(separator: lineEnd).utf8) + Array(lineEnd.utf8)
}

func extract(_ lines: [String], lineEnd: String = "\r\n", options: ExtractionOptions = .default) -> ExtractedText {
    MailText.extract(raw(lines, lineEnd: lineEnd), options: options)
}

/// Bytes from a hex string, for text in legacy charsets.
func hex(_ string: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var digits = string.utf8.filter { $0 != UInt8(ascii: " ") }.makeIterator()
    while let high = digits.next(), let low = digits.next() {
        bytes.append(hexValue(high)! << 4 | hexValue(low)!)
    }
    return bytes
}

/// A message with a body in raw bytes (a legacy charset) under the given header lines.
func raw(headers: [String], body: [UInt8]) -> [UInt8] {
    Array((headers.joined(separator: "\r\n") + "\r\n\r\n").utf8) + body
}

/// Feeds a message to `MessageReader` the way a milter gets it: header fields split off as an
/// MTA does (value as received, still folded), then the body in chunks of random sizes.
/// Only for messages whose header section is well formed.
func readIncrementally<G: RandomNumberGenerator>(
    _ message: [UInt8], options: ExtractionOptions = .default, maxChunk: Int = 64, using generator: inout G
) -> ExtractedText {
    var reader = MessageReader(options: options)
    var lines: [ArraySlice<UInt8>] = []
    var start = 0
    var bodyStart = message.count
    while start < message.count {
        let end = message[start...].firstIndex(of: 0x0A) ?? message.count
        var line = message[start..<end]
        if line.last == 0x0D { line = line.dropLast() }
        if line.isEmpty {
            bodyStart = min(end + 1, message.count)
            break
        }
        lines.append(message[start..<min(end + 1, message.count)])
        start = end + 1
    }
    var fields: [(name: String, value: [UInt8])] = []
    for line in lines {
        if line.first == 0x20 || line.first == 0x09 {
            fields[fields.count - 1].value += line
        } else {
            let colon = line.firstIndex(of: UInt8(ascii: ":"))!
            var value = line[(colon + 1)...]
            if value.first == 0x20 { value = value.dropFirst() }
            fields.append((String(decoding: line[..<colon], as: UTF8.self), Array(value)))
        }
    }
    for (name, value) in fields {
        var value = value // an MTA hands over the value without its final line end
        while value.last == 0x0A || value.last == 0x0D { value.removeLast() }
        reader.header(name: name, value: value)
    }
    reader.endOfHeaders()
    feed(message[bodyStart...], to: &reader, maxChunk: maxChunk, using: &generator)
    return reader.finish()
}

/// `bytes` in chunks of 0 to `maxChunk` bytes.
func feed<G: RandomNumberGenerator>(
    _ bytes: ArraySlice<UInt8>, to reader: inout MessageReader, maxChunk: Int, using generator: inout G
) {
    var offset = bytes.startIndex
    while offset < bytes.endIndex {
        let size = min(Int.random(in: 0...maxChunk, using: &generator), bytes.endIndex - offset)
        bytes[offset..<(offset + size)].withUnsafeBytes { reader.body($0) }
        offset += size
    }
}

/// A whole raw message through `MessageReader` in random chunks, header section included.
func readRawIncrementally<G: RandomNumberGenerator>(
    _ message: [UInt8], options: ExtractionOptions = .default, maxChunk: Int, using generator: inout G
) -> ExtractedText {
    var reader = MessageReader.rawMessage(options: options)
    feed(message[...], to: &reader, maxChunk: maxChunk, using: &generator)
    return reader.finish()
}

/// SplitMix64: a seeded generator, so every failure can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
