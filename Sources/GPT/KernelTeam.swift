import Foundation
import Synchronization

/// The threads the engine splits each kernel across: the calling thread plus one worker per further core.
///
/// A forward pass fans out about a hundred times (every GEMM, LayerNorm, attention and GELU pass), each a
/// fraction of a millisecond. Dispatch parks its workers between them, and waking one costs 10–40 µs on a
/// virtual machine — 3% of a GPT-2 forward pass. These workers instead spin for a moment after each job
/// (`spin`, 200 µs), so the next one finds them awake; with no job for that long they sleep on a condition
/// variable, so an idle daemon costs nothing.
///
/// One caller at a time: `run` returns false when another thread's job holds the team, and the caller then
/// does the work itself (two engines on two threads already use both cores).
final class KernelTeam: @unchecked Sendable {
    /// Workers beyond the calling thread.
    let workers: Int
    private let spin: Duration

    // The current job, written by its owner before `generation` is bumped (release) and read by the workers
    // after they see the bump (acquire).
    private nonisolated(unsafe) var job: ((Int) -> Void)?
    private nonisolated(unsafe) var jobCount = 0
    private let generation = Atomic<Int>(0)
    private let unfinished = Atomic<Int>(0)
    private let owned = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    private let lock = NSCondition()

    init(workers: Int, spin: Duration = .microseconds(200)) {
        self.workers = workers
        self.spin = spin
        for w in 0..<workers {
            let thread = Thread { [unowned self] in self.work(index: w + 1) }
            thread.name = "spamguard-kernel-\(w + 1)"
            thread.start()
        }
    }

    /// Runs body(0..<count) across the caller and the workers (index i on thread i mod (workers + 1)); returns
    /// false, having run nothing, if another caller holds the team.
    func run(_ count: Int, _ body: (Int) -> Void) -> Bool {
        guard workers > 0, owned.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { owned.store(false, ordering: .releasing) }
        // The workers only call body while this function waits for them below.
        withoutActuallyEscaping(body) { body in
            job = body
            jobCount = count
            unfinished.store(workers, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 { lock.lock(); lock.broadcast(); lock.unlock() }
            for i in stride(from: 0, to: count, by: workers + 1) { body(i) }
            while unfinished.load(ordering: .acquiring) > 0 {}
            job = nil
        }
        return true
    }

    private func work(index: Int) {
        var seen = 0
        while true {
            let clock = ContinuousClock(), start = clock.now
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins & 255 == 0, clock.now - start > spin { park(until: seen) }
            }
            seen = generation.load(ordering: .acquiring)
            if let job { for i in stride(from: index, to: jobCount, by: workers + 1) { job(i) } }
            unfinished.subtract(1, ordering: .releasing)
        }
    }

    /// Sleeps until the generation moves past `seen`.
    private func park(until seen: Int) {
        lock.lock()
        sleepers.add(1, ordering: .sequentiallyConsistent)
        while generation.load(ordering: .sequentiallyConsistent) == seen { lock.wait() }
        sleepers.subtract(1, ordering: .sequentiallyConsistent)
        lock.unlock()
    }
}
