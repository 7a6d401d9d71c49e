import Foundation

/// Runs a Lua script from Tests/SpamguardEndToEndTests/miltertest with miltertest (Debian: miltertest),
/// an independent milter client, against a running daemon.
enum Miltertest {
    static let scripts = (#filePath as NSString).deletingLastPathComponent + "/../miltertest"

    struct Run: Sendable {
        var status: Int32
        var output: String
        var succeeded: Bool { status == 0 }
    }

    static func run(_ script: String, _ defines: [String: String]) async throws -> Run {
        var arguments = ["-s", "\(scripts)/\(script).lua"]
        for (name, value) in defines.sorted(by: { $0.key < $1.key }) { arguments += ["-D", "\(name)=\(value)"] }
        return try await runProcess("/usr/bin/miltertest", arguments)
    }
}

/// Runs a program to its end without blocking a thread: output goes to a temporary file, the exit
/// arrives through `terminationHandler`.
func runProcess(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) async throws -> Miltertest.Run {
    let outputPath = "/tmp/sg-e2e-output.\(UUID().uuidString)"
    _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: outputPath) }
    let output = FileHandle(forWritingAtPath: outputPath)!
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    process.standardOutput = output
    process.standardError = output
    process.standardInput = FileHandle.nullDevice
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
        do {
            try process.run()
        } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
        }
    }
    try? output.close()
    let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    return Miltertest.Run(status: status, output: text)
}
