import DequeModule
import Logging
import ServiceLifecycle
import Synchronization

/// Dynamic batching limits (`[batching]`).
public struct BatchLimits: Sendable, Equatable {
    /// Most tickets in one forward pass.
    public var maxBatch: Int
    /// How long the first pending ticket holds an idle model back, waiting for company.
    public var maxWait: Duration

    public init(maxBatch: Int, maxWait: Duration) {
        precondition(maxBatch >= 1)
        self.maxBatch = maxBatch
        self.maxWait = maxWait
    }

    public init(_ batching: Configuration.Batching) {
        self.init(maxBatch: batching.maxBatch, maxWait: .milliseconds(batching.maxWaitMilliseconds))
    }
}

/// What the model actor reports about itself (watchdog, STATUS=, tests).
public struct ModelStatus: Sendable, Equatable {
    public var version: String?
    public var pending: Int
    /// How long the current forward pass has been running; nil when the compute thread is idle.
    public var computingFor: Duration?
    public var batches: Int
    public var classified: Int
    public var failedBatches: Int
    /// Batch size → number of forward passes of that size.
    public var batchSizes: [Int: Int]
}

/// The one owner of the loaded classifier. Requests (`ClassificationTicket`s) arrive from libmilter's threads
/// (`submit`) or from async code (`classify`); the actor groups them into batches — up to `maxBatch`, holding
/// an idle model back at most `maxWait` for more once one is pending — and hands each batch to the
/// `ComputeThread`. While a batch computes the actor stays free: it queues new tickets, swaps models and
/// answers watchdog pings. Tickets waiting while a batch computes form the next batch as soon as it ends,
/// so batch sizes — and throughput — grow with concurrency.
///
/// All state changes happen in `run()`'s event loop; timers are child tasks of that loop, and the compute
/// thread reports back by yielding an event, so nothing here outlives `run()`.
public actor ModelActor: Service {
    private enum Event: Sendable {
        case ticket(ClassificationTicket)
        case flush(generation: Int)
        case computed(size: Int, failed: Bool)
        case shutdown
    }

    private let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation
    private let compute: ComputeThread
    /// The current model, readable without hopping onto the actor: libmilter threads tokenize with it.
    private let published: Mutex<(any ClassifierModel)?>
    private let logger: Logger

    private var limits: BatchLimits
    private var pending: Deque<ClassificationTicket> = []
    private var computingSince: ContinuousClock.Instant?
    private var flushGeneration = 0
    private var flushArmed = false
    private var stopping = false
    private var batches = 0
    private var classified = 0
    private var failedBatches = 0
    private var batchSizes: [Int: Int] = [:]

    public init(model: (any ClassifierModel)?, limits: BatchLimits, logger: Logger) {
        (events, eventSink) = AsyncStream.makeStream(of: Event.self)
        self.compute = ComputeThread()
        self.published = Mutex(model)
        self.limits = limits
        self.logger = logger
    }

    /// The model new messages are tokenized and classified with; nil until a classifier is loaded.
    public nonisolated var currentModel: (any ClassifierModel)? {
        published.withLock { $0 }
    }

    /// Replaces the model. Batches already computing finish with the model they started with; tickets
    /// tokenized for the old model are still classified by it.
    public func swap(to model: (any ClassifierModel)?) {
        let old = published.withLock { current in
            defer { current = model }
            return current
        }
        logger.info("model swapped", metadata: ["from": "\(old?.version ?? "none")", "to": "\(model?.version ?? "none")"])
    }

    public func update(limits: BatchLimits) {
        self.limits = limits
    }

    public func status() -> ModelStatus {
        ModelStatus(
            version: currentModel?.version,
            pending: pending.count,
            computingFor: computingSince.map { $0.duration(to: .now) },
            batches: batches,
            classified: classified,
            failedBatches: failedBatches,
            batchSizes: batchSizes
        )
    }

    /// Queues a ticket without waiting (libmilter threads call this, then block in `ticket.wait()`).
    public nonisolated func submit(_ ticket: ClassificationTicket) {
        if case .terminated = eventSink.yield(.ticket(ticket)) {
            ticket.resolve(.failure(.shuttingDown))
        }
    }

    /// Classifies `tokens` (produced by `currentModel`) by `deadline`.
    public nonisolated func classify(
        tokens: [Int32], deadline: ContinuousClock.Instant
    ) async throws(ClassificationError) -> Classification {
        guard let model = currentModel else { throw .noModel }
        let ticket = ClassificationTicket(tokens: tokens, model: model, deadline: deadline)
        submit(ticket)
        let outcome = await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                ticket.resolve(.failure(.deadlineExceeded))
            }
            let outcome = await ticket.result()
            group.cancelAll()
            return outcome
        }
        return try outcome.get()
    }

    public func run() async {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await event in events {
                    handle(event, group: &group)
                    if stopping, computingSince == nil { break }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: { [eventSink] in
            eventSink.yield(.shutdown)
        }
        eventSink.finish()
        failPending(.shuttingDown)
        compute.stop()
    }

    private func handle(_ event: Event, group: inout DiscardingTaskGroup) {
        switch event {
        case .ticket(let ticket):
            if stopping {
                ticket.resolve(.failure(.shuttingDown))
                return
            }
            pending.append(ticket)
            dispatch(group: &group, force: false)
        case .flush(let generation):
            guard generation == flushGeneration else { return }
            flushArmed = false
            dispatch(group: &group, force: true)
        case .computed(let size, let failed):
            computingSince = nil
            batches += 1
            batchSizes[size, default: 0] += 1
            if failed { failedBatches += 1 } else { classified += size }
            // Whatever queued up during the pass has waited long enough: go at once.
            dispatch(group: &group, force: true)
        case .shutdown:
            stopping = true
            failPending(.shuttingDown)
        }
    }

    /// Starts a batch if the compute thread is idle and the batch is full, or `force` (its wait is over).
    /// Otherwise arms the max-wait timer for the first pending ticket.
    private func dispatch(group: inout DiscardingTaskGroup, force: Bool) {
        guard computingSince == nil, !stopping else { return }
        dropSettledAndExpired()
        guard let first = pending.first else { return }
        let modelID = ObjectIdentifier(first.model)
        let ready = pending.lazy.filter { ObjectIdentifier($0.model) == modelID }.prefix(limits.maxBatch).count
        guard force || ready >= limits.maxBatch || limits.maxWait == .zero else {
            if !flushArmed {
                flushArmed = true
                let generation = flushGeneration
                let wait = limits.maxWait
                group.addTask { [eventSink] in
                    try? await Task.sleep(for: wait)
                    eventSink.yield(.flush(generation: generation))
                }
            }
            return
        }
        flushGeneration += 1
        flushArmed = false

        var taken: [ClassificationTicket] = []
        var rest: Deque<ClassificationTicket> = []
        for ticket in pending {
            if taken.count < limits.maxBatch, ObjectIdentifier(ticket.model) == modelID {
                taken.append(ticket)
            } else {
                rest.append(ticket)
            }
        }
        let batch = taken
        pending = rest
        let started = ContinuousClock.now
        computingSince = started
        let accepted = compute.submit { [eventSink] in
            let failed = Self.computeBatch(batch, started: started)
            eventSink.yield(.computed(size: batch.count, failed: failed))
        }
        if !accepted {
            computingSince = nil
            for ticket in batch { ticket.resolve(.failure(.shuttingDown)) }
        }
    }

    /// Runs on the compute thread: one forward pass, then every ticket resolved right there (the waiting
    /// libmilter threads wake without another hop). Returns whether the pass failed.
    private static func computeBatch(_ batch: [ClassificationTicket], started: ContinuousClock.Instant) -> Bool {
        let model = batch[0].model
        let clock = ContinuousClock()
        let computeStart = clock.now
        let result = Result { try model.spamProbabilities(batch.map(\.tokens)) }
        let computeTime = computeStart.duration(to: clock.now)
        switch result {
        case .success(let scores) where scores.count == batch.count:
            for (ticket, score) in zip(batch, scores) {
                guard score.isFinite, (0...1).contains(score) else {
                    ticket.resolve(.failure(.modelFailed("score \(score) is not a probability")))
                    continue
                }
                ticket.resolve(.success(Classification(
                    score: score, modelVersion: model.version, batchSize: batch.count,
                    queued: ticket.submitted.duration(to: computeStart), compute: computeTime
                )))
            }
            return false
        case .success(let scores):
            let reason = "returned \(scores.count) scores for \(batch.count) messages"
            for ticket in batch { ticket.resolve(.failure(.modelFailed(reason))) }
            return true
        case .failure(let error):
            for ticket in batch { ticket.resolve(.failure(.modelFailed("\(error)"))) }
            return true
        }
    }

    /// Forgets tickets already settled (their waiter gave up) and fails those past their deadline, so that
    /// no forward pass is spent on an answer nobody is waiting for.
    private func dropSettledAndExpired() {
        let now = ContinuousClock.now
        pending.removeAll { ticket in
            if ticket.isResolved { return true }
            if ticket.deadline <= now {
                ticket.resolve(.failure(.deadlineExceeded))
                return true
            }
            return false
        }
    }

    private func failPending(_ error: ClassificationError) {
        for ticket in pending { ticket.resolve(.failure(error)) }
        pending.removeAll()
    }
}
