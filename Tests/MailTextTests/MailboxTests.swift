import Foundation
import Testing
@testable import MailText

/// A fresh directory under the system temporary directory, removed afterwards.
private func withTemporaryDirectory(_ body: (URL) throws -> Void) throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mailtext-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    try body(directory)
}

private func write(_ text: String, to url: URL) throws {
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(text.utf8).write(to: url)
}

private func contents(_ entries: some Sequence<MailboxEntry>, relativeTo root: URL) -> [String] {
    entries.map { entry in
        let origin = entry.origin.replacingOccurrences(of: root.path(percentEncoded: false), with: "")
        switch entry.content {
        case .success(let bytes): return origin + "=" + String(decoding: bytes, as: UTF8.self)
        case .failure: return origin + " failed"
        }
    }
}

@Suite struct MailboxTests {
    @Test func directoryOfFilesRecursively() throws {
        try withTemporaryDirectory { root in
            try write("b", to: root.appendingPathComponent("b"))
            try write("a", to: root.appendingPathComponent("a"))
            try write("nested", to: root.appendingPathComponent("sub/c"))
            try write("hidden", to: root.appendingPathComponent(".hidden"))
            try write("hidden too", to: root.appendingPathComponent(".git/x"))
            #expect(contents(try Mailbox.messages(at: root), relativeTo: root) == ["/a=a", "/b=b", "/sub/c=nested"])
        }
    }

    @Test func maildirReadsCurAndNewOnly() throws {
        try withTemporaryDirectory { root in
            try write("seen", to: root.appendingPathComponent("cur/1.host:2,S"))
            try write("fresh", to: root.appendingPathComponent("new/2.host"))
            try write("half written", to: root.appendingPathComponent("tmp/3.host"))
            try write("1 2", to: root.appendingPathComponent("dovecot-uidlist"))
            try write("folder", to: root.appendingPathComponent(".Sent/cur/4.host"))
            #expect(contents(try Mailbox.messages(at: root), relativeTo: root) == ["/cur/1.host:2,S=seen", "/new/2.host=fresh"])
        }
    }

    @Test func singleMessageFile() throws {
        try withTemporaryDirectory { root in
            let file = root.appendingPathComponent("message.eml")
            try write("Subject: x\n\nFrom here on", to: file)
            #expect(contents(try Mailbox.messages(at: file), relativeTo: root) == ["/message.eml=Subject: x\n\nFrom here on"])
        }
    }

    @Test func mboxIsSplitAndUnescaped() throws {
        try withTemporaryDirectory { root in
            let file = root.appendingPathComponent("inbox")
            try write("""
                From a@example.com Thu Aug 22 13:17:22 2002
                Subject: one

                >From the start
                >>From deeper
                > From not escaped

                From b@example.com Thu Aug 22 13:17:23 2002
                Subject: two

                body

                """, to: file)
            #expect(contents(try Mailbox.messages(at: file), relativeTo: root) == [
                "/inbox#1=Subject: one\n\nFrom the start\n>From deeper\n> From not escaped\n",
                "/inbox#2=Subject: two\n\nbody\n",
            ])
        }
    }

    @Test func unreadableFilesAreReportedNotFatal() throws {
        try withTemporaryDirectory { root in
            try write("ok", to: root.appendingPathComponent("a"))
            try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("b").path, withDestinationPath: "/nonexistent/x")
            try write("gone soon", to: root.appendingPathComponent("c"))
            let entries = try Mailbox.messages(at: root)
            try FileManager.default.removeItem(at: root.appendingPathComponent("c")) // listed, then lost
            #expect(contents(entries, relativeTo: root) == ["/a=ok", "/b failed", "/c failed"])
        }
    }

    @Test func aMissingPathThrows() {
        #expect(throws: MailboxError.self) { _ = try Mailbox.messages(at: URL(fileURLWithPath: "/nonexistent/mailbox")) }
    }
}
