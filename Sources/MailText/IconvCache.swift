import Glibc
import Synchronization

/// Open iconv descriptors to UTF-8, kept for reuse because `iconv_open` is far slower than
/// converting a short text.
///
/// A descriptor holds conversion state and is not thread-safe, so it is never shared: a
/// conversion takes one out of the cache, uses it alone, resets it and puts it back. The cache is
/// bounded: a few idle descriptors per charset, a fixed number of charsets, and a bounded memory
/// of names iconv does not know (the names come from untrusted mail).
final class IconvCache: Sendable {
    static let shared = IconvCache()

    private static let idlePerCharset = 4
    private static let charsetLimit = 64
    private static let unknownLimit = 1024

    /// A descriptor moves between threads but is only ever used by its one current holder.
    private struct Descriptor: @unchecked Sendable {
        let cd: iconv_t
    }

    private struct State: ~Copyable {
        var idle: [String: [Descriptor]] = [:]
        var unknown: Set<String> = []
    }

    /// Idle descriptors stay open for the life of the process.
    private let state = Mutex(State())

    private init() {}

    struct Result {
        var utf8: [UInt8]
        /// Input bytes that were not valid in the charset; each became U+FFFD.
        var errors: Int
    }

    /// Nil when iconv does not know the charset.
    func convert(_ bytes: UnsafeBufferPointer<UInt8>, from name: String) -> Result? {
        guard let descriptor = take(name) else { return nil }
        let result = Self.convert(bytes, with: descriptor.cd)
        give(descriptor, back: name)
        return result
    }

    private func take(_ name: String) -> Descriptor? {
        let cached: Descriptor?? = state.withLock { state in
            if state.unknown.contains(name) { return .some(nil) }
            return state.idle[name]?.popLast()
        }
        if let cached { return cached }
        guard Self.isPlainName(name) else { return nil }
        let cd = iconv_open("UTF-8", name)
        if cd == iconv_t(bitPattern: -1) {
            state.withLock { state in
                if state.unknown.count >= Self.unknownLimit { state.unknown.removeAll() }
                state.unknown.insert(name)
            }
            return nil
        }
        return Descriptor(cd: cd!)
    }

    private func give(_ descriptor: Descriptor, back name: String) {
        iconv(descriptor.cd, nil, nil, nil, nil) // back to the initial shift state
        let kept = state.withLock { state in
            guard state.idle[name] != nil || state.idle.count < Self.charsetLimit else { return false }
            guard state.idle[name, default: []].count < Self.idlePerCharset else { return false }
            state.idle[name, default: []].append(descriptor)
            return true
        }
        if !kept { iconv_close(descriptor.cd) }
    }

    /// Names reach `iconv_open` only as plain tokens, so a label cannot add modifiers such as
    /// `//TRANSLIT` or anything path-like.
    private static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 40 && name.utf8.allSatisfy { c in
            (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".") || c == UInt8(ascii: ":")
        }
    }

    private static func convert(_ bytes: UnsafeBufferPointer<UInt8>, with cd: iconv_t) -> Result {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2 + 16)
        var errors = 0
        guard let base = bytes.baseAddress else { return Result(utf8: out, errors: 0) }
        let scratchSize = 16 * 1024
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: scratchSize) { scratch in
            func append(upTo output: UnsafeMutablePointer<CChar>?) {
                out.append(contentsOf: UnsafeRawBufferPointer(start: scratch.baseAddress, count: output! - scratch.baseAddress!))
            }
            var input: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(mutating: base)
                .assumingMemoryBound(to: CChar.self)
            var inputLeft = bytes.count
            while inputLeft > 0 {
                var output = scratch.baseAddress
                var outputLeft = scratchSize
                let status = iconv(cd, &input, &inputLeft, &output, &outputLeft)
                let failure = errno
                append(upTo: output)
                if status != -1 { break }
                switch failure {
                case E2BIG:
                    continue
                case EILSEQ:
                    // Skip one byte; a multibyte character may resynchronise on the next.
                    out.append(contentsOf: [0xEF, 0xBF, 0xBD])
                    errors += 1
                    input! += 1
                    inputLeft -= 1
                default:
                    // EINVAL: the input ends inside a character.
                    out.append(contentsOf: [0xEF, 0xBF, 0xBD])
                    errors += 1
                    inputLeft = 0
                }
            }
            // Whatever the shift state still holds.
            var output = scratch.baseAddress
            var outputLeft = scratchSize
            iconv(cd, nil, nil, &output, &outputLeft)
            append(upTo: output)
        }
        return Result(utf8: out, errors: errors)
    }
}
