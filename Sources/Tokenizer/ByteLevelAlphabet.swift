/// GPT-2's spelling of bytes as printable characters, in which vocab.json and merges.txt write tokens.
///
/// Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls, space, 0x7F-0xA0, 0xAD)
/// are shifted, in byte order, to U+0100...U+0143 — so a space is "Ġ" (U+0120).
enum ByteLevelAlphabet {
    /// The byte a character spells, or nil for a character outside the alphabet.
    static func byte(spelledBy scalar: Unicode.Scalar) -> UInt8? {
        let value = Int(scalar.value)
        guard value < byteOfScalar.count, byteOfScalar[value] >= 0 else { return nil }
        return UInt8(byteOfScalar[value])
    }

    /// The character that spells a byte.
    static func scalar(spelling byte: UInt8) -> Unicode.Scalar {
        scalarOfByte[Int(byte)]
    }

    private static let scalarOfByte: [Unicode.Scalar] = {
        var shifted: UInt32 = 0x100
        return (0...255).map { (byte: UInt32) in
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable { return Unicode.Scalar(byte)! }
            defer { shifted += 1 }
            return Unicode.Scalar(shifted)!
        }
    }()

    /// Indexed by scalar value up to U+0143; -1 where the scalar spells no byte.
    private static let byteOfScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in scalarOfByte.enumerated() { table[Int(scalar.value)] = Int16(byte) }
        return table
    }()
}
