import Glibc

/// Receives the lines of a byte stream, as pieces.
protocol LineSink {
    /// One piece of a line, without its line end (LF, or CR LF). A line longer than
    /// `LineSplitter.pieceLength` arrives as several pieces; `first` marks the piece that starts
    /// the line and `last` the one that ends it. A short line is one piece with both set.
    mutating func line(_ piece: UnsafeBufferPointer<UInt8>, first: Bool, last: Bool)
}

/// Cuts a stream of chunks into lines, copying only what straddles a chunk boundary.
///
/// The pieces a sink sees depend only on the bytes, never on how they were chunked: a long line
/// is cut at fixed offsets within the line. This is what makes `MessageReader` give the same
/// result for any chunking. It also bounds the memory kept between chunks to one piece.
struct LineSplitter {
    /// Longer than any line RFC 5322 allows (998), so every real boundary line is one piece.
    static let pieceLength = 2048

    /// Bytes of the current line not yet delivered; fewer than `pieceLength + 1`.
    private var carry: [UInt8] = []
    /// Whether part of the current line was already delivered.
    private var midLine = false

    var retainedBytes: Int { carry.capacity }

    mutating func feed<Sink: LineSink>(_ chunk: UnsafeRawBufferPointer, into sink: inout Sink) {
        guard var p = chunk.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        let end = p + chunk.count
        let n = Self.pieceLength
        while p < end {
            // Look at most one byte past a full piece: enough to tell whether the piece ends the line.
            let want = n + 1 - carry.count
            let window = min(want, end - p)
            if let lf = memchr(p, 0x0A, window) {
                let lineEnd = UnsafePointer(lf.assumingMemoryBound(to: UInt8.self))
                if carry.isEmpty {
                    deliverLast(UnsafeBufferPointer(start: p, count: lineEnd - p), into: &sink)
                } else {
                    carry.append(contentsOf: UnsafeBufferPointer(start: p, count: lineEnd - p))
                    carry.withUnsafeBufferPointer { deliverLast($0, into: &sink) }
                    carry.removeAll(keepingCapacity: true)
                }
                midLine = false
                p = lineEnd + 1
            } else if window == want {
                // n bytes with no line end after them: a full piece that does not end the line.
                let take = want - 1
                if carry.isEmpty {
                    sink.line(UnsafeBufferPointer(start: p, count: take), first: !midLine, last: false)
                } else {
                    carry.append(contentsOf: UnsafeBufferPointer(start: p, count: take))
                    carry.withUnsafeBufferPointer { sink.line($0, first: !midLine, last: false) }
                    carry.removeAll(keepingCapacity: true)
                }
                midLine = true
                p += take
            } else {
                carry.append(contentsOf: UnsafeBufferPointer(start: p, count: end - p))
                p = end
            }
        }
    }

    /// Delivers a last line that has no line end.
    mutating func finish<Sink: LineSink>(into sink: inout Sink) {
        // A delivered full piece always leaves at least its lookahead byte behind, so a started
        // line is never left without a last piece here.
        if !carry.isEmpty {
            carry.withUnsafeBufferPointer { deliverLast($0, into: &sink) }
        }
        carry = []
        midLine = false
    }

    private func deliverLast<Sink: LineSink>(_ bytes: UnsafeBufferPointer<UInt8>, into sink: inout Sink) {
        var count = bytes.count
        if count > 0 && bytes[count - 1] == 0x0D { count -= 1 }
        sink.line(UnsafeBufferPointer(rebasing: bytes[0..<count]), first: !midLine, last: true)
    }
}
