import Dispatch
import Logging
import Synchronization
import ServiceLifecycleTestKit
import Testing
@testable import SpamguardService

#if canImport(Glibc)
import Glibc
#endif

/// Runs a model actor for the duration of `body`, then cancels it.
func withModelActor<T: Sendable>(
    _ model: (any ClassifierModel)?,
    maxBatch: Int = 8,
    maxWait: Duration = .milliseconds(5),
    _ body: (ModelActor) async throws -> T
) async throws -> T {
    let actor = ModelActor(model: model, limits: BatchLimits(maxBatch: maxBatch, maxWait: maxWait), logger: Logger(label: "test"))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await actor.run() }
        defer { group.cancelAll() }
        return try await body(actor)
    }
}

/// Polls until the actor has a forward pass running.
func waitUntilComputing(_ actor: ModelActor) async throws {
    while await actor.status().computingFor == nil {
        try await Task.sleep(for: .milliseconds(2))
    }
}

func deadline(in duration: Duration) -> ContinuousClock.Instant { .now.advanced(by: duration) }

@Suite("ModelActor: dynamic batching on a dedicated compute thread")
struct ModelActorTests {
    @Test("concurrent requests share forward passes, each gets its own score")
    func concurrencyGrowsBatches() async throws {
        let model = FakeModel(delay: .milliseconds(20))
        try await withModelActor(model, maxBatch: 8) { actor in
            let scores = try await withThrowingTaskGroup(of: (Int, Float).self) { group in
                for i in 1...40 {
                    group.addTask {
                        let result = try await actor.classify(tokens: [Int32(i)], deadline: deadline(in: .seconds(300)))
                        return (i, result.score)
                    }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            #expect(scores.count == 40)
            for (i, score) in scores { #expect(score == Float(i) / 1000) }
        }
        let sizes = model.batchSizes
        #expect(sizes.reduce(0, +) == 40)
        #expect(sizes.max()! > 1, "batch sizes \(sizes)")
        #expect(sizes.max()! <= 8)
        #expect(sizes.count < 40)
    }

    @Test("forward passes run on one thread that is not the caller's")
    func dedicatedComputeThread() async throws {
        let model = FakeModel()
        try await withModelActor(model) { actor in
            for i in 1...5 {
                _ = try await actor.classify(tokens: [Int32(i)], deadline: deadline(in: .seconds(300)))
            }
        }
        #expect(model.computeThreads.count == 1)
    }

    @Test("a lone request waits at most max_wait for company")
    func loneRequestWaitsMaxWait() async throws {
        let model = FakeModel()
        try await withModelActor(model, maxBatch: 8, maxWait: .milliseconds(80)) { actor in
            let clock = ContinuousClock()
            let elapsed = try await clock.measure {
                _ = try await actor.classify(tokens: [1], deadline: deadline(in: .seconds(300)))
            }
            #expect(elapsed >= .milliseconds(75))
            #expect(elapsed < .seconds(60))
        }
        #expect(model.batchSizes == [1])
    }

    @Test("a full batch goes at once, without waiting max_wait")
    func fullBatchDoesNotWait() async throws {
        let model = FakeModel()
        try await withModelActor(model, maxBatch: 4, maxWait: .seconds(120)) { actor in
            let clock = ContinuousClock()
            let elapsed = try await clock.measure {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 1...4 {
                        group.addTask { _ = try await actor.classify(tokens: [Int32(i)], deadline: deadline(in: .seconds(300))) }
                    }
                    try await group.waitForAll()
                }
            }
            #expect(elapsed < .seconds(100), "a full batch must not wait out max_wait")
        }
        #expect(model.batchSizes == [4])
    }

    @Test("a request whose deadline passes while the model is busy fails at its deadline, not after the pass")
    func deadlineMiss() async throws {
        let model = FakeModel(gated: true)
        defer { model.gate?.open() }
        try await withModelActor(model, maxWait: .zero) { actor in
            async let held = actor.classify(tokens: [1], deadline: deadline(in: .seconds(300)))
            try await waitUntilComputing(actor)
            await #expect(throws: ClassificationError.deadlineExceeded) {
                _ = try await actor.classify(tokens: [2], deadline: deadline(in: .milliseconds(50)))
            }
            #expect(await actor.status().computingFor != nil, "the answer came while the pass was still held")
            model.gate?.open()
            #expect(try await held.score == 0.001)
        }
    }

    @Test("tickets that expire while queued are never computed")
    func expiredTicketsSkipCompute() async throws {
        let model = FakeModel(gated: true)
        defer { model.gate?.open() }
        try await withModelActor(model, maxWait: .zero) { actor in
            async let slow = actor.classify(tokens: [1], deadline: deadline(in: .seconds(300)))
            try await waitUntilComputing(actor)
            await #expect(throws: ClassificationError.deadlineExceeded) {
                _ = try await actor.classify(tokens: [2], deadline: deadline(in: .milliseconds(50)))
            }
            model.gate?.open()
            #expect(try await slow.score == 0.001)
            // Once the first pass is booked, a second one would show as computing or pending.
            while await actor.status().batches < 1 { try await Task.sleep(for: .milliseconds(2)) }
            let status = await actor.status()
            #expect(status.computingFor == nil && status.pending == 0)
        }
        #expect(model.batchSizes == [1])
    }

    @Test("the actor answers status pings while a batch computes")
    func responsiveDuringCompute() async throws {
        let model = FakeModel(gated: true)
        defer { model.gate?.open() }
        try await withModelActor(model, maxWait: .zero) { actor in
            async let slow = actor.classify(tokens: [1], deadline: deadline(in: .seconds(300)))
            while model.gate?.arrivals == 0 { try await Task.sleep(for: .milliseconds(2)) }
            // The pass is held at the gate: the actor must still answer.
            let status = await actor.status()
            #expect(status.computingFor != nil)
            #expect(status.version == "fake-1")
            model.gate?.open()
            _ = try await slow
            while await actor.status().computingFor != nil { try await Task.sleep(for: .milliseconds(2)) }
            #expect(await actor.status().classified == 1)
        }
    }

    @Test("swapping the model mid-traffic loses nothing; old tickets finish on their own model")
    func swapMidTraffic() async throws {
        let a = FakeModel(version: "A", delay: .milliseconds(5), behaviour: .constant(0.1))
        let b = FakeModel(version: "B", delay: .milliseconds(5), behaviour: .constant(0.9))
        try await withModelActor(a, maxBatch: 4, maxWait: .milliseconds(2)) { actor in
            let results = try await withThrowingTaskGroup(of: Classification.self) { group in
                for i in 0..<60 {
                    if i == 30 { await actor.swap(to: b) }
                    group.addTask { try await actor.classify(tokens: [1], deadline: deadline(in: .seconds(300))) }
                    try await Task.sleep(for: .milliseconds(1))
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 60)
            for result in results {
                #expect((result.modelVersion == "A" && result.score == 0.1) || (result.modelVersion == "B" && result.score == 0.9))
            }
            #expect(results.contains { $0.modelVersion == "A" })
            #expect(results.contains { $0.modelVersion == "B" })

            // A ticket tokenized for A before the swap is still classified by A.
            let ticket = ClassificationTicket(tokens: [1], model: a, deadline: deadline(in: .seconds(300)))
            actor.submit(ticket)
            let late = await ticket.result()
            #expect(try late.get().modelVersion == "A")
            #expect(actor.currentModel?.version == "B")
        }
    }

    @Test("a failing model fails every ticket of the batch and is counted")
    func modelFailure() async throws {
        try await withModelActor(FakeModel(behaviour: .throwing), maxWait: .zero) { actor in
            await #expect(throws: ClassificationError.modelFailed("broken")) {
                _ = try await actor.classify(tokens: [1], deadline: deadline(in: .seconds(300)))
            }
            while await actor.status().batches < 1 { try await Task.sleep(for: .milliseconds(2)) }
            #expect(await actor.status().failedBatches == 1)
        }
        try await withModelActor(FakeModel(behaviour: .wrongCount), maxBatch: 2, maxWait: .seconds(10)) { actor in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 1...2 {
                    group.addTask {
                        await #expect(throws: ClassificationError.modelFailed("returned 1 scores for 2 messages")) {
                            _ = try await actor.classify(tokens: [Int32(i)], deadline: deadline(in: .seconds(300)))
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test("without a model, classify says so")
    func noModel() async throws {
        _ = try await withModelActor(nil) { actor in
            await #expect(throws: ClassificationError.noModel) {
                _ = try await actor.classify(tokens: [1], deadline: deadline(in: .seconds(1)))
            }
        }
    }

    @Test("a plain (libmilter-like) thread blocks in wait() until the answer or its deadline")
    func blockingWaitFromPlainThread() async throws {
        let model = FakeModel(gated: true)
        defer { model.gate?.open() }
        try await withModelActor(model, maxWait: .zero) { (actor: ModelActor) async throws in
            // A plain thread, like libmilter's: it blocks in wait(), never a thread of the cooperative pool.
            let outcomes: [ClassificationTicket.Outcome] = await withCheckedContinuation { continuation in
                OSThread {
                    let running = ClassificationTicket(tokens: [7], model: model, deadline: deadline(in: .seconds(300)))
                    actor.submit(running)
                    while model.gate?.arrivals == 0 { usleep(1000) }
                    // The pass is held at the gate: this one times out by itself.
                    let late = ClassificationTicket(tokens: [8], model: model, deadline: deadline(in: .milliseconds(50)))
                    actor.submit(late)
                    let second = late.wait()
                    model.gate?.open()
                    continuation.resume(returning: [running.wait(), second])
                }.detach()
            }
            #expect(try outcomes[0].get().score == 0.007)
            #expect(throws: ClassificationError.deadlineExceeded) { try outcomes[1].get() }
        }
    }

    @Test("graceful shutdown fails queued tickets and lets the running pass finish")
    func shutdownDrains() async throws {
        let model = FakeModel(gated: true)
        defer { model.gate?.open() }
        let actor = ModelActor(model: model, limits: BatchLimits(maxBatch: 1, maxWait: .zero), logger: Logger(label: "test"))
        let running = ClassificationTicket(tokens: [1], model: model, deadline: deadline(in: .seconds(300)))
        let queued = ClassificationTicket(tokens: [2], model: model, deadline: deadline(in: .seconds(300)))
        try await withThrowingTaskGroup(of: Void.self) { group in
            let (shutdownStream, shutdown) = AsyncStream.makeStream(of: Void.self)
            group.addTask {
                await testGracefulShutdown { trigger in
                    async let run: Void = actor.run()
                    for await _ in shutdownStream { break }
                    trigger.triggerGracefulShutdown()
                    await run
                }
            }
            actor.submit(running)
            try await waitUntilComputing(actor)
            actor.submit(queued)
            while await actor.status().pending < 1 { try await Task.sleep(for: .milliseconds(2)) }
            shutdown.yield()
            // The queued ticket fails at once, while the running pass is still held.
            while !queued.isResolved { try await Task.sleep(for: .milliseconds(2)) }
            #expect(!running.isResolved)
            model.gate?.open()
            try await group.waitForAll()
        }
        #expect(try await running.result().get().score == 0.001)
        #expect(queued.isResolved)
        #expect(throws: ClassificationError.shuttingDown) { try queued.wait().get() }
        let after = ClassificationTicket(tokens: [3], model: model, deadline: deadline(in: .seconds(300)))
        actor.submit(after)
        #expect(throws: ClassificationError.shuttingDown) { try after.wait().get() }
    }
}
