import GPT

/// Which position's hidden state feeds the head.
public enum Pooling: String, Sendable, Codable, CaseIterable {
    /// The book's: sequences padded to a common length with <|endoftext|>, the last position (often padding).
    case last
    /// The last real token: no padding at all (causal attention makes padding after it irrelevant anyway).
    case lastReal = "lastreal"
}

/// How class imbalance is handled in the training set.
public enum Balance: String, Sendable, Codable, CaseIterable {
    case none
    /// The book's: drop random ham until there are as many ham as spam.
    case downsample
    /// Keep everything; weight each class's loss by N / (2·N_class).
    case weight
}

/// Learning-rate schedule over the whole run.
public enum Schedule: String, Sendable, Codable, CaseIterable {
    case constant
    /// Linear warm-up over the first 10% of steps, then cosine decay to 10% of the peak.
    case cosine
}

/// Everything that shapes a finetune. The defaults are the best measured settings (see README);
/// `Recipe.book` gives the chapter-6 ones.
public struct TrainingSettings: Sendable, Codable, Hashable {
    public var epochs = 3
    public var batchSize = 8
    public var optimizer = AdamW.Hyperparameters()
    public var scope: TrainableScope = .lastBlocks(2)
    public var pooling: Pooling = .lastReal
    /// Tokens per example; nil = the longest training example, capped by the model's positions (the book's choice).
    /// With several windows, tokens per window.
    public var maxTokens: Int? = 256
    /// Windows of `maxTokens` tokens read per message (see `TokenWindows`); 1 = only the first `maxTokens` tokens.
    public var windows = 1
    /// How the windows' pooled states are combined before the head.
    public var windowPooling: WindowPooling = .mean
    public var balance: Balance = .none
    public var schedule: Schedule = .constant
    public var seed: UInt64 = 123
    /// Evaluate (and print the progress line) every this many optimizer steps.
    public var evalEvery = 50
    /// Batches of train/val used for the loss estimates in the progress line (the book's eval_iter).
    public var evalBatches = 5
    /// Keep the parameters with the lowest validation loss seen at any evaluation.
    public var keepBest = true
    /// A linear bag-of-tokens head beside the GPT head, on the first 4096 tokens (see `TokenBag`); nil = the GPT
    /// head alone (the book's).
    public var bag: TokenBag? = TokenBag()
    /// The bag head's AdamW learning rate (its features are sparse and it starts from zero: far above the body's).
    public var bagLearningRate: Float = 1e-2
    public var bagObjective: BagObjective = .joint
    /// The bag head's decoupled weight decay; nil: the optimizer's (`optimizer.weightDecay`), as bundles written
    /// before this setting existed were trained. Default 0: a token pair seen early in training keeps its weight
    /// (on SpamAssassin 99.42% test accuracy at each of three seeds, against 99.20% on average with 0.1; README).
    public var bagWeightDecay: Float? = 0

    public init() {}

    /// Tokens of each message that training reads, before the longest example fixes `maxTokens`: the windows'
    /// reach on a model of `maxPositions` positions, or the bag's, whichever is further (a bundle's
    /// `ClassifierManifest.tokenLimit` once trained).
    public func tokenLimit(maxPositions: Int) -> Int {
        max((maxTokens.map { min($0, maxPositions) } ?? maxPositions) * windows, bag?.tokens ?? 0)
    }

    /// The settings of chapter 6 of *Build a Large Language Model (From Scratch)*.
    public static var book: TrainingSettings {
        var s = TrainingSettings()
        s.epochs = 5
        s.batchSize = 8
        s.optimizer.learningRate = 5e-5
        s.optimizer.weightDecay = 0.1
        s.scope = .lastBlocks(1)
        s.pooling = .last
        s.maxTokens = nil
        s.balance = .downsample
        s.evalEvery = 50
        s.evalBatches = 5
        s.keepBest = false
        s.bag = nil
        return s
    }
}

extension TrainingSettings {
    // Decoded field by field so that manifests written before a setting existed still load (with its default).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TrainingSettings()
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? d.epochs
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        optimizer = try c.decodeIfPresent(AdamW.Hyperparameters.self, forKey: .optimizer) ?? d.optimizer
        scope = try c.decodeIfPresent(TrainableScope.self, forKey: .scope) ?? d.scope
        pooling = try c.decodeIfPresent(Pooling.self, forKey: .pooling) ?? d.pooling
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens)
        windows = try c.decodeIfPresent(Int.self, forKey: .windows) ?? d.windows
        windowPooling = try c.decodeIfPresent(WindowPooling.self, forKey: .windowPooling) ?? d.windowPooling
        balance = try c.decodeIfPresent(Balance.self, forKey: .balance) ?? d.balance
        schedule = try c.decodeIfPresent(Schedule.self, forKey: .schedule) ?? d.schedule
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery) ?? d.evalEvery
        evalBatches = try c.decodeIfPresent(Int.self, forKey: .evalBatches) ?? d.evalBatches
        keepBest = try c.decodeIfPresent(Bool.self, forKey: .keepBest) ?? d.keepBest
        bag = try c.decodeIfPresent(TokenBag.self, forKey: .bag)
        bagLearningRate = try c.decodeIfPresent(Float.self, forKey: .bagLearningRate) ?? d.bagLearningRate
        bagObjective = try c.decodeIfPresent(BagObjective.self, forKey: .bagObjective) ?? d.bagObjective
        bagWeightDecay = try c.decodeIfPresent(Float.self, forKey: .bagWeightDecay)
    }
}
