import ControlProtocol

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The daemon process: its id, when it started, how long it has run, how much memory it holds.
public struct ProcessFacts: Sendable {
    public let pid: Int32
    public let started: Date
    private let startedInstant: ContinuousClock.Instant

    public init() {
        pid = getpid()
        started = Date()
        startedInstant = .now
    }

    public var uptime: Duration { startedInstant.duration(to: .now) }

    public var uptimeSeconds: Double { uptime.inSeconds }

    /// Resident set size in bytes (`/proc/self/statm`), 0 if unreadable.
    public static func residentMemoryBytes() -> Int {
        guard let text = try? readTextFile("/proc/self/statm") else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
