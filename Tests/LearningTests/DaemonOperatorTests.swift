import ControlProtocol
import DaemonTestSupport
import Foundation
import Testing
@testable import Learning

#if canImport(Glibc)
import Glibc
#endif

/// The operator's side of the learning loop, through `spamguardctl` and the real daemon's control socket:
/// pause-training, learn, train-now, resume-training, models, stats, rollback; then the same commands with the
/// daemon stopped, on its files.
@Suite("spamguardctl drives the learning loop over the control socket", .serialized)
struct DaemonOperatorTests {
    /// `spamguardctl stats --json`, decoded.
    func stats(_ s: DaemonLearningTests.Setup) async throws -> StatsReport {
        let (status, output) = try await s.ctl(["stats", "--json", "--config", s.config])
        guard status == 0 else { throw HarnessError("stats exited \(status): \(read(s.root + "/spamguardctl.log") ?? "")") }
        return try ControlCoding.decode(StatsReport.self, from: Array(output.utf8))
    }

    /// Polls `stats --json` every 100 ms for up to `seconds` until `condition` holds.
    func statsUntil(_ s: DaemonLearningTests.Setup, seconds: Double = 30, _ condition: (StatsReport) -> Bool) async throws -> StatsReport {
        let deadline = Date(timeIntervalSinceNow: seconds)
        var report = try await stats(s)
        while !condition(report), Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
            report = try await stats(s)
        }
        return report
    }

    @Test func pauseLearnTrainNowModelsStatsRollback() async throws {
        // Never on its own: an idle hour and a thousand corrections; only train-now starts the run.
        let s = try await DaemonLearningTests.setup(minNew: 1000)
        defer { remove(s.root) }
        try s.setIdleSeconds(3600)
        let parent = s.parentVersion
        let campaign = try s.files((0..<30).map(TinyWorld.campaign), in: "campaign")
        let daemon = try s.daemon()
        #expect(await daemon.waitForLog("learning: feedback in"))

        var (status, output) = try await s.ctl(["pause-training", "--config", s.config])
        #expect(status == 0 && output.hasPrefix("training paused"), "\(output)")
        (status, output) = try await s.ctl(["learn", "--spam", "--config", s.config] + campaign)
        #expect(status == 0 && output.contains("submitted 30 messages as spam through the daemon"), "\(output)")
        var report = try await statsUntil(s) { $0.learning?.feedback.untrained == 30 }
        #expect(report.learning?.feedback.untrained == 30 && report.learning?.feedback.waiting == 0, "taken in from the socket's drops")

        // Paused: not even train-now starts a run.
        (status, output) = try await s.ctl(["train-now", "--config", s.config])
        #expect(status == 0 && output.contains("training is paused: the run on 30 new corrections starts after spamguardctl resume-training"), "\(output)")
        try await Task.sleep(for: .milliseconds(1500))
        #expect(!daemon.log.contains("learning: run 1"))
        report = try await stats(s)
        #expect(report.learning?.paused == true && report.learning?.trainNowRequested == true && report.learning?.lastRun == nil)
        #expect(try await s.ctl(["stats", "--config", s.config]).output.contains("training paused by an operator"))

        // Resumed: the run starts without the idle hour, on 30 corrections where 1000 are configured.
        (status, output) = try await s.ctl(["resume-training", "--config", s.config])
        #expect(status == 0 && output.hasPrefix("training resumed"), "\(output)")
        #expect(await daemon.waitForLog("promoted"), "\(daemon.log)")
        let version = try #require(s.store.currentVersion)
        #expect(await daemon.waitForLog("learning: now serving \(version)"))

        output = try await s.ctl(["models", "--config", s.config]).output
        #expect(output.contains("* \(version)  created"), "\(output)")
        #expect(output.contains("finetuned from \(parent)  held-out acc"))
        #expect(output.contains("  \(parent)  created"), "the trained classifier, kept for rollback")
        #expect(output.contains("last training run: #1"))
        #expect(output.contains("loop: idle"))
        report = try await stats(s)
        let learning = try #require(report.learning)
        #expect(learning.feedback.learned == 30 && learning.feedback.untrained == 0 && learning.feedback.rejected == 0)
        #expect(learning.lastRun?.outcome == "promoted" && learning.lastRun?.candidate == version && (learning.lastRun?.examples ?? 0) > 30)
        #expect(learning.servingVersion == version && (learning.servingAgeSeconds ?? -1) >= 0 && !learning.paused)
        #expect(report.classifier?.version == version)
        let table = try await s.ctl(["stats", "--config", s.config]).output
        #expect(table.contains("learning from corrections:\n  feedback: 0 waiting, 0 new since the last run, 30 learned"), "\(table)")
        #expect(table.contains(": promoted \(version) — "))

        // Rollback: served from the next message on, as stats and status say.
        (status, output) = try await s.ctl(["rollback", "--config", s.config])
        #expect(status == 0 && output == "now serving \(parent) (was \(version))\n", "\(output)")
        #expect(try await stats(s).classifier?.version == parent)
        #expect(try await s.ctl(["status", "--config", s.config]).output.contains("classifier \(parent);"))
        (status, _) = try await s.ctl(["rollback", "no-such-version", "--config", s.config])
        #expect(status == 1)
        #expect(read(s.root + "/spamguardctl.log")?.contains("no stored version no-such-version") == true, "\(read(s.root + "/spamguardctl.log") ?? "")")
        #expect(try await s.ctl(["rollback", version, "--config", s.config]).output == "now serving \(version) (was \(parent))\n")

        // The socket refuses changes to a peer that is neither root nor the daemon's user, whatever its group.
        if getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") {
            let ctl = try Products.checkedPath("spamguardctl")
            let nobody = ["--reuid=65534", "--regid=65534", "--groups=\(getgid())", ctl]
            let learn = try await runProcess("/usr/bin/setpriv", nobody + ["learn", "--ham", "--socket", s.root + "/control.sock", campaign[0]], niceness: lowestPriority)
            #expect(learn.status == 5, "forbidden: \(learn)")
            let models = try await runProcess("/usr/bin/setpriv", nobody + ["models", "--socket", s.root + "/control.sock"], niceness: lowestPriority)
            #expect(models.status == 0 && models.output.contains("* \(version)"), "reading is for everyone who can open the socket")
            #expect(try await stats(s).learning?.feedback.waiting == 0)
        }
        #expect(await daemon.stop() == 0)

        // The daemon stopped: models and rollback read and switch the store, learn drops into the folder.
        output = try await s.ctl(["models", "--config", s.config]).output
        #expect(output.hasPrefix("spamguard is not running: read from \(s.store.directory)"), "\(output)")
        #expect(output.contains("* \(version)"))
        (status, output) = try await s.ctl(["rollback", "--config", s.config])
        #expect(status == 0 && output.contains("now serves \(parent) (was \(version)) from the daemon's next start"), "\(output)")
        #expect(s.store.currentVersion == parent)
        (status, output) = try await s.ctl(["learn", "--ham", "--config", s.config, campaign[0]])
        #expect(status == 0 && output.contains("submitted 1 message as ham to \(s.folder.inbox(.ham))"), "\(output)")
        #expect(try s.folder.waiting().count == 1)
        (status, _) = try await s.ctl(["train-now", "--config", s.config])
        #expect(status == 4, "no daemon to ask: no socket")
    }
}
