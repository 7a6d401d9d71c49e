import Foundation

/// A one-line progress bar on stderr: redrawn in place on a terminal (at most 10 times a second),
/// a plain line every 10% otherwise (logs, CI).
final class ProgressBar: @unchecked Sendable {
    private let label: String
    private let unit: String
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var lastDecile = -1
    private let tty = isatty(2) != 0
    private let lock = NSLock()

    init(_ label: String, unit: String = "") { self.label = label; self.unit = unit }

    func update(_ done: Int, _ total: Int, extra: String = "") {
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let elapsed = now.timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let stats = String(format: "%3.0f%% %d/%d %.1f %@/s ETA %@", 100 * fraction, done, total, rate, unit, duration(eta)) + (extra.isEmpty ? "" : "  " + extra)
        if tty {
            guard done == total || now.timeIntervalSince(lastDraw) > 0.1 else { return }
            lastDraw = now
            let width = 28, filled = Int(fraction * Double(width))
            let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: max(0, width - filled - 1))
            FileHandle.standardError.write(Data("\r\u{1B}[K\(label) [\(bar)] \(stats)".utf8))
        } else {
            let decile = Int(fraction * 10)
            guard decile > lastDecile else { return }
            lastDecile = decile
            FileHandle.standardError.write(Data("\(label): \(stats)\n".utf8))
        }
    }

    /// Ends the bar's line (on a terminal).
    func finish() {
        lock.lock(); defer { lock.unlock() }
        if tty { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    /// Prints a line above the bar.
    func log(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        if tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        print(line)
        fflush(nil)
        lastDraw = .distantPast
    }
}

func duration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds)
    return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
}

/// Prints a line and flushes it, so it lands in order with the progress bar on stderr even when piped.
func say(_ line: String) {
    print(line)
    fflush(nil)
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data("spamguardctl: \(message)\n".utf8))
}

func percent(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }
