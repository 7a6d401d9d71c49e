import ControlProtocol
import Foundation

/// `spamguardctl stats` for people: aligned columns, human units.
struct StatsTable {
    let report: StatsReport
    let now: Date

    init(_ report: StatsReport, now: Date) {
        self.report = report
        self.now = now
    }

    var text: String {
        var lines: [String] = []
        let daemon = report.daemon
        lines.append("spamguard pid \(daemon.pid), up \(duration(daemon.uptimeSeconds)) (since \(Self.timestamp(daemon.started))), "
            + "resident memory \(Self.mebibytes(daemon.residentMemoryBytes))")
        lines.append(contentsOf: classifierLines)
        lines.append("")
        lines.append(contentsOf: messageLines)
        lines.append("")
        lines.append(contentsOf: latencyLines)
        lines.append("")
        lines.append(batchLine)
        if let learning = report.learning {
            lines.append("")
            lines.append("learning from corrections:")
            lines.append(contentsOf: ModelsCommand.learningLines(learning, now: now).map { "  " + $0 })
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private var classifierLines: [String] {
        guard let classifier = report.classifier else {
            return ["classifier: none loaded — mail passes unscanned (train one, then `spamguardctl reload`)"]
        }
        var first = "classifier \(classifier.version)"
        if let created = classifier.created {
            first += ", trained \(Self.timestamp(created))"
            if let age = classifier.ageSeconds { first += " (\(duration(age)) ago)" }
        }
        if let base = classifier.base { first += ", base model \(base)" }
        if let hash = classifier.baseSHA256 { first += " (sha256 \(hash.prefix(12))…)" }
        guard let v = classifier.validation else { return [first, "  validation: not recorded in the bundle"] }
        let auc = v.rocAUC.map { String(format: "%.4f", $0) } ?? "n/a"
        return [
            first,
            "  validation (\(v.messages) messages): accuracy \(percent(v.accuracy)), precision \(percent(v.precision)), "
                + "recall \(percent(v.recall)), F1 \(String(format: "%.3f", v.f1)), false positives \(percent(v.falsePositiveRate)), ROC AUC \(auc)",
        ]
    }

    private var messageLines: [String] {
        let messages = report.messages
        var names = MessageFigures.outcomeOrder.filter { messages.outcomes[$0] != nil }
        names += messages.outcomes.keys.filter { !MessageFigures.outcomeOrder.contains($0) }.sorted()
        var rows = [["outcome", "messages", "share"]]
        for name in names {
            let figure = messages.outcomes[name]!
            rows.append([name, "\(figure.count)", percent(figure.share)])
        }
        rows.append(["total", "\(messages.total)", messages.total > 0 ? percent(1) : "-"])
        return ["messages since \(Self.timestamp(messages.since)) (\(messages.scanned) scanned by the model)"]
            + Self.align(rows, rightAligned: [1, 2]).map { "  " + $0 }
    }

    private var latencyLines: [String] {
        func row(_ name: String, _ summary: LatencySummary) -> [String] {
            guard summary.count > 0 else { return [name, "0", "-", "-", "-", "-"] }
            return [name, "\(summary.count)"] + [summary.p50Milliseconds, summary.p95Milliseconds, summary.p99Milliseconds, summary.maxMilliseconds]
                .map { String(format: "%.1f ms", $0) }
        }
        let rows = [
            ["classification wait", "messages", "p50", "p95", "p99", "max"],
            row("since start", report.latency.sinceStart),
            row("last 5 minutes", report.latency.lastFiveMinutes),
        ]
        return Self.align(rows, rightAligned: [1, 2, 3, 4, 5])
    }

    private var batchLine: String {
        let batches = report.batches
        guard batches.forwardPasses > 0 else { return "batch sizes: no forward pass yet" }
        let sizes = batches.sizes.compactMap { key, count in Int(key).map { ($0, count) } }.sorted { $0.0 < $1.0 }
        return "batch sizes (messages per forward pass, since start): "
            + sizes.map { "\($0.0)×\($0.1)" }.joined(separator: "  ") + "  (\(batches.forwardPasses) passes)"
    }

    /// Pads each column to its widest cell; columns in `rightAligned` are right-aligned.
    static func align(_ rows: [[String]], rightAligned: Set<Int>) -> [String] {
        let widths = (0..<(rows.map(\.count).max() ?? 0)).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                return rightAligned.contains(column) ? padding + cell : cell + padding
            }
            .joined(separator: "  ")
            .replacingOccurrences(of: " +$", with: "", options: .regularExpression)
        }
    }

    /// `2026-11-25 17:22:03 UTC`
    static func timestamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss 'UTC'"
        return formatter.string(from: date)
    }

    static func mebibytes(_ bytes: Int) -> String {
        String(format: "%.1f MiB", Double(bytes) / 1_048_576)
    }
}
