import ControlProtocol
import DaemonTestSupport
import Foundation

/// What these tests do with the daemon (started with `DaemonProcess.answering`): spamguardctl against its
/// control socket, its stats, mail through its milter.
extension DaemonProcess {
    /// `spamguardctl ARGUMENTS --socket <this daemon's>`, optionally through `prefix` (setpriv …).
    func ctl(_ arguments: String..., prefix: [String] = []) async throws -> ProcessRun {
        try await runProcess(Products.path("spamguardctl"), arguments + ["--socket", controlSocket], prefix: prefix)
    }

    /// `spamguardctl stats --json`, decoded.
    func stats() async throws -> StatsReport {
        let result = try await ctl("stats", "--json")
        guard result.status == 0 else { throw HarnessError("stats exited \(result.status): \(result.errors)") }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(StatsReport.self, from: Data(result.output.utf8))
    }

    /// One message (a file) through the milter with miltertest's message.lua; `expect` is ham, spam (tagged),
    /// reject or unscanned (skipped: give `auth` for an authenticated sender).
    func send(_ message: String, expect: String, auth: String? = nil, queueID: String = "CTLQ1") async throws -> ProcessRun {
        var defines = ["message": message, "expect": expect, "queueid": queueID]
        if let auth { defines["auth"] = auth }
        return try await miltertest("message", defines)
    }
}
