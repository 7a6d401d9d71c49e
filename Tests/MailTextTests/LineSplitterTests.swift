import Testing
@testable import MailText

/// Records what a `LineSplitter` delivers.
private struct Recorder: LineSink {
    var pieces: [(bytes: [UInt8], first: Bool, last: Bool)] = []

    mutating func line(_ piece: UnsafeBufferPointer<UInt8>, first: Bool, last: Bool) {
        pieces.append((Array(piece), first, last))
    }

    var lines: [String] {
        var result: [String] = []
        for piece in pieces {
            if piece.first { result.append("") }
            result[result.count - 1] += String(decoding: piece.bytes, as: UTF8.self)
        }
        return result
    }
}

private func split(_ input: [UInt8], chunks: [Int]) -> Recorder {
    var splitter = LineSplitter()
    var recorder = Recorder()
    var offset = 0
    for size in chunks where offset < input.count {
        let end = min(offset + size, input.count)
        input[offset..<end].withUnsafeBytes { splitter.feed($0, into: &recorder) }
        offset = end
    }
    input[offset...].withUnsafeBytes { splitter.feed($0, into: &recorder) }
    splitter.finish(into: &recorder)
    return recorder
}

@Suite struct LineSplitterTests {
    @Test func splitsOnLFAndCRLFAndKeepsLoneCR() {
        let r = split(Array("a\r\nb\nc\rd\n\ne".utf8), chunks: [])
        #expect(r.lines == ["a", "b", "c\rd", "", "e"])
        #expect(r.pieces.allSatisfy { $0.first && $0.last })
    }

    @Test func aFinalLineEndAddsNoEmptyLine() {
        #expect(split(Array("a\nb\n".utf8), chunks: []).lines == ["a", "b"])
        #expect(split(Array("a\nb\r".utf8), chunks: []).lines == ["a", "b"])
    }

    @Test func longLinesComeInFixedPieces() {
        let n = LineSplitter.pieceLength
        let line = [UInt8](repeating: UInt8(ascii: "x"), count: 2 * n + 5)
        let r = split(line + [0x0D, 0x0A], chunks: [])
        #expect(r.pieces.map(\.bytes.count) == [n, n, 5])
        #expect(r.pieces.map(\.first) == [true, false, false])
        #expect(r.pieces.map(\.last) == [false, false, true])
    }

    @Test func aLineOfExactlyOnePieceIsOnePiece() {
        let n = LineSplitter.pieceLength
        let r = split([UInt8](repeating: 0x41, count: n) + [0x0A, 0x42], chunks: [])
        #expect(r.pieces.map(\.bytes.count) == [n, 1])
        #expect(r.pieces.allSatisfy { $0.first && $0.last })
    }

    @Test func piecesDoNotDependOnChunking() {
        var generator = SeededGenerator(seed: 7)
        let n = LineSplitter.pieceLength
        var input: [UInt8] = []
        for length in [0, 1, 5, n - 1, n, n + 1, 3 * n + 7, 10] {
            input += [UInt8](repeating: UInt8(ascii: "q"), count: length)
            input += Bool.random(using: &generator) ? [0x0D, 0x0A] : [0x0A]
        }
        input += Array("no line end".utf8)
        let reference = split(input, chunks: [])
        for _ in 0..<50 {
            let chunks = (0..<200).map { _ in Int.random(in: 0...(n + 3), using: &generator) }
            let other = split(input, chunks: chunks)
            #expect(other.pieces.map(\.bytes) == reference.pieces.map(\.bytes))
            #expect(other.pieces.map(\.first) == reference.pieces.map(\.first))
            #expect(other.pieces.map(\.last) == reference.pieces.map(\.last))
        }
    }
}
