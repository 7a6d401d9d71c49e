import COpenBLAS
import Foundation

/// Picks OpenBLAS's best kernels for this CPU.
///
/// Debian's OpenBLAS 0.3.21 does not know recent CPUs (AMD Zen 4/5 among them) and falls back to its
/// `Haswell` AVX2 kernels, which halves sgemm speed on a CPU with AVX-512. Its core is chosen once, when
/// the library is loaded — before `main` runs — from `OPENBLAS_CORETYPE`. So when the core it picked is
/// weaker than the CPU's flags allow, and the user has not chosen one, we set the variable and re-execute
/// the same binary with the same arguments, once.
public enum BLASSetup {
    private static let reexecMarker = "SPAMGUARD_BLAS_REEXEC"

    /// What happened, for the caller to log once it has a logger.
    public struct Report: Sendable, CustomStringConvertible {
        public let core: String
        public let threads: Int
        public let reason: String
        public var description: String {
            "OpenBLAS core \(core), \(threads) threads (\(reason)); elementwise kernels \(ElementwiseKernels.best.name)"
        }
    }

    /// OpenBLAS threading for whole-library use (its own pool on every core), as when measuring its peak.
    public static func useOpenBLASThreads() { openblas_set_num_threads(Int32(ProcessInfo.processInfo.activeProcessorCount)) }

    /// The engine's threading: OpenBLAS on the calling thread, the engine splitting work across cores itself.
    public static func useEngineThreads() { openblas_set_num_threads(1); _ = Kernels.allThreads }

    /// Runs `body` with the engine's kernels on the calling thread only: no work is handed to Dispatch workers,
    /// so a background job on a low-priority thread (the learning loop's finetuning) stays on that thread and
    /// leaves the other cores to latency-sensitive work. Other threads are not affected.
    ///
    /// - Parameter yield: called before every matrix product of `body` (milliseconds apart in a training step):
    ///   the place to block while something more urgent runs.
    public static func withKernelsOnCallingThread<R>(yield: (() -> Void)? = nil, _ body: () throws -> R) rethrows -> R {
        guard let yield else { return try Kernels.callingThreadOnly.with(body) }
        return try Kernels.yieldHook.with(yield) { try Kernels.callingThreadOnly.with(body) }
    }

    /// How many threads work done on the calling thread may fan out to: 1 inside `withKernelsOnCallingThread`,
    /// every core otherwise. For loops outside this module that split work themselves (the optimizer).
    public static var kernelThreads: Int { Kernels.threads }

    public static var coreName: String { String(cString: openblas_get_corename()) }
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// Call first thing in `main`. Returns only if no re-exec was needed (or it failed).
    @discardableResult
    public static func selectBestCore() -> Report {
        let env = ProcessInfo.processInfo.environment
        let detected = coreName
        if let chosen = env["OPENBLAS_CORETYPE"] {
            guard env[reexecMarker] != nil else {
                return Report(core: detected, threads: threads, reason: "OPENBLAS_CORETYPE=\(chosen) set by the user")
            }
            let took = detected.lowercased() == chosen.lowercased()
            return Report(core: detected, threads: threads,
                          reason: took ? "forced by spamguard: OpenBLAS detected a weaker core than the CPU supports"
                                       : "spamguard asked OpenBLAS for \(chosen), which it did not accept")
        }
        guard let better = betterCore(than: detected, flags: cpuFlags()) else {
            return Report(core: detected, threads: threads, reason: "detected by OpenBLAS")
        }
        setenv("OPENBLAS_CORETYPE", better, 1)
        setenv(reexecMarker, "1", 1)
        let args = CommandLine.unsafeArgv
        execv("/proc/self/exe", args)
        // execv only returns on failure; keep running on the detected core.
        unsetenv("OPENBLAS_CORETYPE"); unsetenv(reexecMarker)
        return Report(core: detected, threads: threads, reason: "re-exec for \(better) failed: \(String(cString: strerror(errno)))")
    }

    /// The OpenBLAS core name to force, or nil when the detected one is already as good as the CPU allows.
    /// Always SKYLAKEX: its sgemm kernels are the AVX-512 ones (Cooperlake adds only bf16 routines, which
    /// Debian's build leaves out), and 0.3.21's OPENBLAS_CORETYPE parser does not accept "Cooperlake" at all.
    static func betterCore(than detected: String, flags: Set<String>) -> String? {
        let avx512 = ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(flags.contains)
        guard avx512 else { return nil }
        let strong = ["skylakex", "cooperlake", "sapphirerapids"]
        return strong.contains(detected.lowercased()) ? nil : "SKYLAKEX"
    }

    /// The CPU's feature flags as /proc/cpuinfo lists them (empty if it cannot be read).
    public static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
}
