import Foundation

/// Runs a Lua script from the `miltertest` folder beside this file with miltertest (Debian: miltertest), an
/// independent milter client, against a running daemon. The scripts' `FAIL: …` lines (standard error) are in
/// `output`, after what they printed.
public enum Miltertest {
    public static let scripts = (#filePath as NSString).deletingLastPathComponent + "/miltertest"

    /// `miltertest -s <script>.lua -D name=value …`.
    public static func run(_ script: String, _ defines: [String: String]) async throws -> ProcessRun {
        var arguments = ["-s", "\(scripts)/\(script).lua"]
        for (name, value) in defines.sorted(by: { $0.key < $1.key }) { arguments += ["-D", "\(name)=\(value)"] }
        return try await runProcess("/usr/bin/miltertest", arguments, mergingErrors: true)
    }
}
