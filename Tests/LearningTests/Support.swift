import Foundation
import Logging
@testable import Learning
import SpamguardService

/// A fresh temporary directory; remove it with `defer`.
func temporaryDirectory(_ name: String = #function) throws -> String {
    let path = FileManager.default.temporaryDirectory.path + "/sg-learning-\(name.filter(\.isLetter).prefix(40))-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func remove(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

func write(_ text: String, to path: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

func read(_ path: String) -> String? {
    FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
}

func names(_ directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
}

/// A raw message.
func mail(_ subject: String, _ body: String) -> String {
    "From: someone@example.org\r\nTo: you@example.com\r\nSubject: \(subject)\r\nContent-Type: text/plain\r\n\r\n\(body)\r\n"
}

let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

/// Runs blocking work on a thread of its own, not on the cooperative pool (which has one thread per core:
/// two blocked tests would stall every other test), at the lowest CPU priority, so that seconds of training
/// do not slow the timing-sensitive tests running beside it (processes started from it inherit the priority).
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
            continuation.resume(with: Result { try work() })
        }
    }
}

/// Prints everything: for looking into a failing test.
let loud: Logger = {
    var logger = Logger(label: "test") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .trace
    return logger
}()
