import DaemonTestSupport
import Foundation
import Logging
@testable import Learning
import SpamguardService

/// A fresh directory under /tmp, named after the test; remove it with `defer`. Open to every user (mkdtemp makes
/// it 0700): the operator tests run spamguardctl as nobody on files and the control socket in it.
func temporaryDirectory(_ name: String = #function) throws -> String {
    let scratch = try Scratch(prefix: "sg-learning-\(name.filter(\.isLetter).prefix(40))-")
    chmod(scratch.path, 0o755)
    return scratch.path
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

/// Prints everything: for looking into a failing test.
let loud: Logger = {
    var logger = Logger(label: "test") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .trace
    return logger
}()
