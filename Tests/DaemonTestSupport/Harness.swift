import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What went wrong in the harness itself (as opposed to a failed expectation).
public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Where `swift build` put the package's executables: next to the test bundle.
public enum Products {
    public static var directory: String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (executable as NSString).deletingLastPathComponent
    }

    public static func path(_ name: String) -> String { "\(directory)/\(name)" }

    /// `path(name)`, or an error that says to build first if there is no such executable.
    public static func checkedPath(_ name: String) throws -> String {
        let path = path(name)
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw HarnessError("no \(name) next to the test bundle (\(path)); run `swift build` first")
        }
        return path
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
public func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while clock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// The nice value of the daemons and programs the learning tests start, and of their blocking work: the lowest
/// CPU priority, so that seconds of training leave the CPU to the timing-sensitive tests running beside them.
public let lowestPriority: Int32 = 19

/// Sets the calling thread's nice value (Linux keeps one per thread); threads and processes it starts inherit it.
public func setThreadNiceness(_ niceness: Int32) {
    _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
}

/// Runs blocking code (a `ControlClient`, a `waitpid`) on a thread of its own, never on the cooperative pool
/// (which has one thread per core: two blocked tests would stall every other test); at `niceness` if given.
public func offPool<T: Sendable>(niceness: Int32? = nil, _ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            if let niceness { setThreadNiceness(niceness) }
            continuation.resume(with: Result { try work() })
        }
    }
}

/// Runs blocking work on a thread of its own, not on the cooperative pool (which has one thread per core:
/// two blocked tests would stall every other test), at the lowest CPU priority, so that seconds of training
/// do not slow the timing-sensitive tests running beside it (processes started from it inherit the priority).
public func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await offPool(niceness: lowestPriority, work)
}
