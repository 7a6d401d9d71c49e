import ControlProtocol
import Foundation
import GPT
import Logging
import SpamguardService
import Tokenizer
import Training

/// One finetuning run of the learning loop: a candidate finetuned from the serving classifier on the feedback
/// plus a replay of the original training data (so that it does not forget), and both classifiers measured on
/// the same held-out data for the quality gate. The candidate bundle is written to a staging directory.
///
/// Runs synchronously on the calling thread — the learning thread, at low priority — with the engine's kernels
/// kept on that thread, and steps aside while mail is in progress: at every `TrainingPace` checkpoint (between
/// steps and batches) and before every matrix product within them (`TrainingPace.yieldToMail`).
public struct CandidateTraining: Sendable {
    /// A learned feedback message.
    public struct Feedback: Sendable, Equatable {
        public var hash: String
        public var label: FeedbackLabel
        /// `learned/<hash>`.
        public var path: String
        /// Labeled since the last finished run: what this run is about.
        public var isNew: Bool

        public init(hash: String, label: FeedbackLabel, path: String, isNew: Bool) {
            self.hash = hash
            self.label = label
            self.path = path
            self.isNew = isNew
        }
    }

    public struct Plan: Sendable {
        public var runID: Int
        /// The serving version's bundle directory.
        public var parent: String
        /// The base model directory (`[model] base`).
        public var base: String
        public var feedback: [Feedback]
        /// Percent of the new feedback held out of training (by content hash, so the choice is stable).
        public var holdoutPercent: Int
        /// Original training examples replayed per feedback example trained on.
        public var replayRatio: Double
        /// At most this many training examples per run (nil: no bound). The new feedback is always trained on;
        /// older feedback and the replay share the rest at `replayRatio`, sampled by run id (`Budget`).
        public var maxExamples: Int?
        /// Epochs over the run's examples (nil: the parent's `defaultRunEpochs`, its line's recipe).
        public var epochs: Int?
        /// The frozen-prefix feature cache, shared with `spamguardctl train`; nil keeps features in memory only.
        public var cacheDirectory: String?
        /// An empty directory to write the candidate bundle into.
        public var output: String

        public init(runID: Int, parent: String, base: String, feedback: [Feedback], holdoutPercent: Int, replayRatio: Double,
                    maxExamples: Int? = nil, epochs: Int? = nil, cacheDirectory: String?, output: String) {
            self.runID = runID
            self.maxExamples = maxExamples
            self.epochs = epochs
            self.parent = parent
            self.base = base
            self.feedback = feedback
            self.holdoutPercent = holdoutPercent
            self.replayRatio = replayRatio
            self.cacheDirectory = cacheDirectory
            self.output = output
        }
    }

    public struct Result: Sendable {
        /// The candidate's manifest, as written to `plan.output`.
        public var candidate: ClassifierManifest
        public var parentVersion: String
        public var before: QualityGate.Evaluation
        public var after: QualityGate.Evaluation
        /// How the candidate's verdicts on the held-out messages differ from the serving classifier's.
        public var heldOutChanges: HeldOutChanges
        public var examples: Int
        public var feedbackExamples: Int
        public var replayedExamples: Int
        public var heldOutFeedback: Int
        public var steps: Int
        public var timings: Timings
        /// The hashes of the feedback trained on (new and older).
        public var trainedFeedback: Set<String>
        /// The new labels the run was about (it uses them up when it finishes).
        public var consumed: [FeedbackLabel: [String]]
    }

    /// How many older feedback and replayed examples a run trains on beside its new feedback. Without a cap: all
    /// older feedback, and `ratio` replayed examples per feedback example. With one: the new feedback always
    /// (even past the cap), then older feedback up to half the cap in feedback all told (or cap / (1 + ratio),
    /// if larger), the replay the rest at up to `ratio` per feedback example; what one of them lacks the other
    /// may fill. Older feedback gets its half because a refused run's corrections are used up without the serving
    /// classifier having learned them: at cap / (1 + ratio) a full batch of new labels left older feedback no room
    /// at all, so those corrections were never trained on again.
    public struct Budget: Sendable, Equatable {
        public var oldFeedback: Int
        public var replay: Int

        public init(oldFeedback: Int, replay: Int) {
            self.oldFeedback = oldFeedback
            self.replay = replay
        }

        public init(newFeedback: Int, oldFeedback: Int, replayAvailable: Int, ratio: Double, cap: Int?) {
            func replayFor(_ feedback: Int) -> Int { min(replayAvailable, Int((ratio * Double(feedback)).rounded())) }
            guard let cap else {
                self.oldFeedback = oldFeedback
                self.replay = replayFor(newFeedback + oldFeedback)
                return
            }
            let room = max(0, cap - newFeedback)
            let feedbackShare = max(cap / 2, Int((Double(cap) / (1 + ratio)).rounded(.down)))
            var old = min(oldFeedback, room, max(0, feedbackShare - newFeedback))
            let replay = min(replayFor(newFeedback + old), room - old)
            old = min(oldFeedback, room - replay)   // the replay ran short: older feedback fills in
            self.oldFeedback = old
            self.replay = replay
        }
    }

    /// How long each part of a run took, in seconds (the run's notice line, the ledger's `seconds` is the sum).
    public struct Timings: Sendable, Equatable {
        /// Loading the parent and base, reading feedback and replay data, tokenizing every set.
        public var preparation = 0.0
        /// Frozen-prefix features (cached ones are only read).
        public var features = 0.0
        /// The training steps, with the per-epoch full validation for the best checkpoint.
        public var steps = 0.0
        /// The before and after measurements: both classifiers on held-out data and new feedback, the candidate on
        /// its training set.
        public var evaluation = 0.0
        /// Writing the candidate bundle.
        public var writing = 0.0
    }

    public enum Failure: Error, CustomStringConvertible {
        case nothingToTrainOn
        case noNewFeedback
        case noHeldOutComparison

        public var description: String {
            switch self {
            case .nothingToTrainOn: "nothing to train on (every feedback file is gone or held out, and no training data to replay)"
            case .noNewFeedback: "no new feedback (every learned file is gone)"
            case .noHeldOutComparison: "the trainer did not measure the serving classifier on the held-out messages"
            }
        }
    }

    /// Features kept in memory during a run; the rest spill to the cache directory (the daemon stays small).
    static let featureMemoryBudget = 256 << 20
    /// Below this many new examples none is held out: a slice of two or three would judge nothing.
    static let minimumForHoldout = 5

    public let plan: Plan
    public let pace: TrainingPace
    let logger: Logger

    public init(plan: Plan, pace: TrainingPace, logger: Logger) {
        self.plan = plan
        self.pace = pace
        self.logger = logger
    }

    public func run() throws -> Result {
        try BLASSetup.withKernelsOnCallingThread(yield: pace.yieldToMail) { try train() }
    }

    private func train() throws -> Result {
        let clock = ContinuousClock()
        let started = clock.now
        func seconds(since instant: ContinuousClock.Instant) -> Double { instant.duration(to: clock.now).inSeconds }
        var timings = Timings()
        let baseURL = URL(fileURLWithPath: plan.base)
        let (parent, model, head, bag) = try ClassifierBundle.load(URL(fileURLWithPath: plan.parent), base: baseURL)
        let tokenizer = try GPT2Tokenizer.load(directory: baseURL)
        try pace.checkpoint()

        // Feedback: the newest label of every learned message still on disk.
        var feedback: [(Feedback, Example)] = []
        for item in plan.feedback {
            guard let bytes = try? FileOperations.readOrThrow(item.path) else { continue }  // expired meanwhile
            feedback.append((item, Example(label: item.label.classIndex, origin: item.hash, content: .message(bytes))))
        }
        let fresh = feedback.filter { $0.0.isNew }
        guard !fresh.isEmpty else { throw Failure.noNewFeedback }
        let holdingOut = fresh.count >= Self.minimumForHoldout
        let heldOut = feedback.filter { holdingOut && $0.0.isNew && Self.heldOut($0.0.hash, percent: plan.holdoutPercent) }
        let heldOutHashes = Set(heldOut.map(\.0.hash))
        let candidates = feedback.filter { !heldOutHashes.contains($0.0.hash) }

        // Replay: a stratified sample of the original training data, and its validation set, without the
        // messages feedback has labeled (the newest label wins there too).
        let feedbackHashes = Set(feedback.map(\.0.hash))
        var replay = LoadedExamples(), validation = LoadedExamples()
        do {
            let original = try TrainingData.replaying(parent.training)
            replay = Self.without(feedbackHashes, original.train)
            validation = Self.without(feedbackHashes, original.validation)
        } catch {
            logger.warning("learning: cannot replay the original training data (\(error)); training on feedback alone, judging on held-out feedback alone")
        }
        // All new feedback; older feedback and the replay within `maxExamples`, sampled by run id.
        let newFeedback = candidates.filter { $0.0.isNew }
        let older = candidates.filter { !$0.0.isNew }
        let budget = Budget(newFeedback: newFeedback.count, oldFeedback: older.count, replayAvailable: replay.examples.count,
                            ratio: plan.replayRatio, cap: plan.maxExamples)
        let keptOlder = Self.sample(older.map(\.0.hash), count: budget.oldFeedback, runID: plan.runID)
        let trainFeedback = candidates.filter { $0.0.isNew || keptOlder.contains($0.0.hash) }
        let wanted = budget.replay
        if wanted < replay.examples.count {
            replay = wanted == 0 ? LoadedExamples() : replay.split(holdOut: Double(wanted) / Double(replay.examples.count), seed: UInt64(plan.runID)).1
            if replay.examples.count > wanted { replay.examples.removeLast(replay.examples.count - wanted) }  // rounding per class
        }
        try pace.checkpoint()

        let maxTokens = parent.tokenLimit   // every window's tokens, and the bag's
        func tokenized(_ examples: [Example]) throws -> LabeledSequences {
            var sequences: [[Int32]] = []
            sequences.reserveCapacity(examples.count)
            for example in examples {
                try pace.checkpoint()
                sequences.append(tokenizer.encode(example.text(parent.extraction), maxTokens: maxTokens))
            }
            return LabeledSequences(sequences: sequences, labels: examples.map(\.label))
        }
        let trainSet = try tokenized(replay.examples + trainFeedback.map(\.1))
        let heldOutSet = try tokenized(validation.examples + heldOut.map(\.1))
        // "Classifies the new feedback better" is judged on the new feedback it did not train on, when a slice was
        // held out: a bag head memorises single messages, so on its own training feedback a candidate looks
        // better even for flipped labels, with no harm the held-out data could show. Else on all of it.
        let feedbackSet = try tokenized((heldOut.isEmpty ? fresh : heldOut).map(\.1))
        guard !trainSet.isEmpty else { throw Failure.nothingToTrainOn }

        var settings = parent.training.settings
        settings.scope = parent.trainable
        settings.pooling = parent.pooling
        settings.maxTokens = parent.maxTokens
        settings.windows = parent.windows
        settings.windowPooling = parent.windowPooling
        settings.bag = parent.bag
        settings.epochs = plan.epochs ?? parent.training.defaultRunEpochs
        timings.preparation = seconds(since: started)
        logger.notice("""
            learning: run \(plan.runID) finetuning \(parent.version): \(trainSet.count) examples (\(trainFeedback.count) feedback: \
            \(newFeedback.count) new, \(keptOlder.count) older\(plan.maxExamples.map { ", at most \($0) examples" } ?? ""); \
            \(replay.examples.count) replayed), judged on \(heldOutSet.count) held out (\(heldOut.count) feedback) and \
            \(feedbackSet.count) new feedback; \(settings.epochs) epoch\(settings.epochs == 1 ? "" : "s"), lr \(settings.optimizer.learningRate)
            """)
        let trainer = Trainer(model: model, settings: settings, baseHash: parent.base.sha256, padToken: parent.padToken, head: head, bag: bag,
                              cacheDirectory: plan.cacheDirectory.map { URL(fileURLWithPath: $0) },
                              memoryBudget: Self.featureMemoryBudget) { [logger, runID = plan.runID] event in
            if case .evaluation(let epoch, let step, let trainLoss, let validationLoss, let trainAccuracy, let validationAccuracy, _) = event {
                logger.debug("""
                    learning: run \(runID) epoch \(epoch) step \(step): train loss \(trainLoss) accuracy \(trainAccuracy), \
                    held-out loss \(validationLoss) accuracy \(validationAccuracy)
                    """)
            }
        }
        trainer.checkpoint = { [pace] in try pace.checkpoint() }
        let training = clock.now
        let outcome = try trainer.train(trainSet, validation: heldOutSet, test: feedbackSet)
        timings.features = outcome.featureSeconds
        timings.steps = outcome.seconds
        timings.evaluation = max(0, seconds(since: training) - outcome.featureSeconds - outcome.seconds)
        let empty = Metrics(probabilities: [], labels: [])
        let before = QualityGate.Evaluation(heldOut: outcome.initialValidation ?? empty, feedback: outcome.initialTest ?? empty)
        let after = QualityGate.Evaluation(heldOut: outcome.validation, feedback: outcome.test ?? empty)
        guard let changes = HeldOutChanges(labels: heldOutSet.labels, before: outcome.initialValidationProbabilities ?? [],
                                           after: outcome.validationProbabilities) else { throw Failure.noHeldOutComparison }

        var manifest = parent
        manifest.created = Date()
        manifest.metrics = ["train": outcome.train, "validation": outcome.validation, "feedback": after.feedback]
        func summary(_ set: LabeledSequences) -> ClassifierManifest.SplitSummary {
            .init(spam: set.spamCount, ham: set.count - set.spamCount, skipped: 0)
        }
        manifest.training = .init(settings: settings, sources: parent.training.sources,
                                  summary: ["train": summary(trainSet), "validation": summary(heldOutSet), "feedback": summary(feedbackSet)],
                                  seconds: outcome.seconds, steps: outcome.steps, parentVersion: parent.version,
                                  recipeEpochs: parent.training.defaultRunEpochs)
        let writing = clock.now
        let written = try ClassifierBundle.write(trainer.network, manifest: manifest, to: URL(fileURLWithPath: plan.output))
        timings.writing = seconds(since: writing)
        logger.notice("""
            learning: run \(plan.runID) took \(String(format: "%.0f", seconds(since: started))) s: \
            preparation and tokenization \(String(format: "%.0f", timings.preparation)) s, \
            frozen-prefix features \(String(format: "%.0f", timings.features)) s (\(outcome.featureCacheHits) cached, \
            \(outcome.featuresComputed) computed), \(outcome.steps) training steps \(String(format: "%.0f", timings.steps)) s \
            (with the per-epoch validation), evaluation before and after \(String(format: "%.0f", timings.evaluation)) s, \
            writing \(String(format: "%.0f", timings.writing)) s
            """)

        var consumed: [FeedbackLabel: [String]] = [.spam: [], .ham: []]
        for (item, _) in fresh { consumed[item.label, default: []].append(item.hash) }
        return Result(candidate: written, parentVersion: parent.version, before: before, after: after, heldOutChanges: changes,
                      examples: trainSet.count, feedbackExamples: trainFeedback.count, replayedExamples: replay.examples.count,
                      heldOutFeedback: heldOut.count, steps: outcome.steps, timings: timings,
                      trainedFeedback: Set(trainFeedback.map(\.0.hash)),
                      consumed: consumed)
    }

    /// `count` of the hashes, drawn by run id: the same run draws the same ones, another run others.
    static func sample(_ hashes: [String], count: Int, runID: Int) -> Set<String> {
        guard count < hashes.count else { return Set(hashes) }
        var rng = SeededRandom(seed: UInt64(runID))
        return Set(hashes.sorted().shuffled(using: &rng).prefix(count))
    }

    /// Whether a message (by content hash) is in the held-out slice: a stable choice, the same every run.
    static func heldOut(_ hash: String, percent: Int) -> Bool {
        guard let bucket = Int(hash.prefix(8), radix: 16) else { return false }
        return bucket % 100 < percent
    }

    /// The examples that are not among `hashes` (raw messages compared by `MailCheck.digest`).
    static func without(_ hashes: Set<String>, _ data: LoadedExamples) -> LoadedExamples {
        guard !hashes.isEmpty else { return data }
        var kept = data
        kept.examples = data.examples.filter { example in
            guard case .message(let bytes) = example.content else { return true }
            return !hashes.contains(MailCheck.digest(of: bytes))
        }
        return kept
    }
}
