import Foundation
import VectorKernels

/// Which parameters a finetune updates. The book's recipe trains the last block, the final LayerNorm and
/// the head; `.lastBlocks(n)` generalises it; `.all` also trains the embeddings.
public enum TrainableScope: Sendable, Hashable, Codable, CustomStringConvertible {
    case headOnly
    case lastBlocks(Int)
    case all

    /// First block that trains (L when only the head trains).
    public func firstTrainableBlock(layers L: Int) -> Int {
        switch self {
        case .headOnly: return L
        case .lastBlocks(let n): return max(0, L - n)
        case .all: return 0
        }
    }

    public var description: String {
        switch self {
        case .headOnly: return "0"
        case .lastBlocks(let n): return "\(n)"
        case .all: return "all"
        }
    }

    public init?(_ text: String) {
        if text == "all" { self = .all } else if let n = Int(text), n >= 0 { self = n == 0 ? .headOnly : .lastBlocks(n) } else { return nil }
    }

    // Coded as its command-line spelling: "0", "2", "all".
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let scope = TrainableScope(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected a block count or \"all\", got \"\(text)\""))
        }
        self = scope
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// What a training or evaluation step starts from. With frozen lower blocks, the input is their output
/// (the residual stream entering the first trainable block, or for a head-only finetune the pooled final
/// hidden state), which never changes and so is computed once per example and cached.
public enum ClassifierInput {
    /// Token ids per sequence (the whole network runs).
    case tokens([[Int32]])
    /// Per sequence, a pointer to `length × C` floats: the residual stream entering the first trainable block.
    case residuals([UnsafePointer<Float>], lengths: [Int])
    /// Per sequence, a pointer to C floats: the pooled final hidden state (head-only finetunes).
    case pooled([UnsafePointer<Float>])
}

/// GPT-2 body plus a Linear(C, K) head on the last position of each sequence, with training support for a
/// trainable suffix of the network. An example may span several sequences (windows of a long message): the
/// `windows` argument groups consecutive sequences into examples, whose pooled states are combined by
/// `windowPooling` before the head (see WindowPooling.swift). Not thread-safe: one instance per training thread.
///
/// The body's parameters are the `GPTModel`'s own buffer (trained in place); gradients cover only the
/// trainable tail of that buffer, [trainableOffset, total), plus the head.
public final class ClassifierNetwork {
    public static let classes = 2
    public let model: GPTModel
    public let scope: TrainableScope
    public let firstBlock: Int
    /// How an example's windows are combined (irrelevant when every example is one sequence).
    public let windowPooling: WindowPooling
    /// head weight [K,C] then bias [K] (PyTorch Linear layout).
    public let head: UnsafeMutableBufferPointer<Float>
    public let headGradients: UnsafeMutableBufferPointer<Float>
    /// Offset in the model's parameters of the first trained value; gradients[i] belongs to parameters[trainableOffset + i].
    public let trainableOffset: Int
    public let gradients: UnsafeMutableBufferPointer<Float>
    /// The linear bag head beside the GPT head (see TokenBag.swift), nil when the classifier has none: its
    /// weights V [K,D] (empty without a bag) and their gradients.
    public let bag: TokenBag?
    public let bagWeights: UnsafeMutableBufferPointer<Float>
    public let bagGradients: UnsafeMutableBufferPointer<Float>
    /// How the two heads learn (irrelevant without a bag).
    public let bagObjective: BagObjective

    private let work = GrowableBuffer()
    private let windowWork = GrowableBuffer()
    private var windowArgmax: [Int32] = []
    private var tokenScratch: [Int32] = []

    /// - Parameters:
    ///   - head: the GPT head's values (weight [K,C] then bias [K]); nil = PyTorch's random initialisation.
    ///   - bag: a bag head beside the GPT head; `bagWeights` its values [K,D], nil = zeros (no effect until trained).
    public init(model: GPTModel, scope: TrainableScope, head initial: [Float]? = nil, seed: UInt64 = 0,
                windowPooling: WindowPooling = .mean, bag: TokenBag? = nil, bagWeights initialBag: [Float]? = nil,
                bagObjective: BagObjective = .joint) {
        self.model = model
        self.scope = scope
        self.windowPooling = windowPooling
        self.bag = bag
        self.bagObjective = bagObjective
        let bagCount = bag.map { $0.buckets * Self.classes } ?? 0
        bagWeights = .allocate(capacity: bagCount)
        if let initialBag {
            precondition(initialBag.count == bagCount, "bag head has \(initialBag.count) values, expected \(bagCount)")
            _ = bagWeights.initialize(from: initialBag)
        } else {
            bagWeights.initialize(repeating: 0)
        }
        bagGradients = .allocate(capacity: bagCount)
        bagGradients.initialize(repeating: 0)
        let L = model.config.layers, C = model.config.channels, K = Self.classes
        firstBlock = scope.firstTrainableBlock(layers: L)
        head = .allocate(capacity: K * C + K)
        if let initial {
            precondition(initial.count == K * C + K, "head has \(initial.count) values, expected \(K * C + K)")
            _ = head.initialize(from: initial)
        } else {
            // PyTorch's Linear default: U(−1/√C, 1/√C) for weight and bias.
            var rng = SeededRandom(seed: seed)
            let bound = 1 / Float(C).squareRoot()
            for i in 0..<head.count { head[i] = (2 * rng.nextUniform() - 1) * bound }
        }
        headGradients = .allocate(capacity: K * C + K)
        headGradients.initialize(repeating: 0)
        switch scope {
        case .headOnly: trainableOffset = model.layout.totalCount
        case .lastBlocks: trainableOffset = model.layout.blockOffset(firstBlock)
        case .all: trainableOffset = 0
        }
        gradients = .allocate(capacity: model.layout.totalCount - trainableOffset)
        gradients.initialize(repeating: 0)
    }

    deinit { head.deallocate(); headGradients.deallocate(); gradients.deallocate(); bagWeights.deallocate(); bagGradients.deallocate() }

    public func zeroGradients() {
        headGradients.update(repeating: 0)
        gradients.update(repeating: 0)
        bagGradients.update(repeating: 0)
    }

    /// The head's parameters as an array (for saving).
    public var headValues: [Float] { Array(head) }

    // MARK: frozen features

    /// Runs the frozen part for each sequence and returns what `ClassifierInput` expects for this scope:
    /// `length × C` residuals entering block `firstBlock`, or C pooled features for head-only.
    /// (For `.all` nothing is frozen: use `.tokens`.)
    public func frozenFeatures(_ sequences: [[Int32]]) throws -> [[Float]] {
        precondition(scope != .all, "nothing is frozen when every parameter trains")
        let C = model.config.channels
        if scope == .headOnly {
            let (_, _, pooled) = try bodyForward(.tokens(sequences), training: false)
            return (0..<sequences.count).map { Array(UnsafeBufferPointer(start: pooled + $0 * C, count: C)) }
        }
        let batch = try pack(sequences)
        let ws = bodyWorkspace(batch: batch, training: false)
        let x = frozenBlocks(ws, batch)
        return zip(batch.starts, batch.lengths).map { s, T in Array(UnsafeBufferPointer(start: x + s * C, count: T * C)) }
    }

    // MARK: forward / backward

    /// Class probabilities [B][K] for a batch (inference: no activations kept, no gradients): the softmax of the
    /// GPT head's logits plus, with a bag head, the bag's.
    /// - Parameters:
    ///   - windows: how many consecutive sequences of `input` make each example (nil: one each).
    ///   - bags: each example's bag features; required exactly when the network has a bag head.
    public func probabilities(_ input: ClassifierInput, windows: [Int]? = nil, bags: [TokenBagFeatures]? = nil) throws -> [[Float]] {
        try run(input, windows: windows, bags: bags, labels: nil, weights: nil).probabilities
    }

    /// One training step's forward and backward: accumulates gradients of the weighted mean cross-entropy
    /// Σ w_b·CE_b / Σ w_b into `gradients`/`headGradients`/`bagGradients`, returns the loss and the probabilities.
    /// With a bag head and `.separate`, CE_b is the sum of each head's own cross-entropy (see `BagObjective`).
    /// - Parameter windows: how many consecutive sequences of `input` make each example (nil: one each).
    public func forwardBackward(_ input: ClassifierInput, labels: [Int], weights: [Float]? = nil, windows: [Int]? = nil,
                                bags: [TokenBagFeatures]? = nil) throws -> (loss: Float, probabilities: [[Float]]) {
        let w = weights ?? [Float](repeating: 1, count: labels.count)
        let r = try run(input, windows: windows, bags: bags, labels: labels, weights: w)
        return (r.loss, r.probabilities)
    }

    /// Blocks 0..<L−1 run in full; the last block runs on the pooled rows only (see PooledBlock.swift).
    /// When training, each trainable full block keeps its activations and its input.
    private struct BodyWorkspace {
        let acts: [BlockActivations]          // one per trainable full block (one shared when not training)
        let inputs: [UnsafeMutablePointer<Float>]  // inputs[i]: input [N,C] of block firstBlock + i (the last: the pooled block's)
        let pooledActs: PooledBlockActivations
        let pooledOut: UnsafeMutablePointer<Float>  // [B,C] the last block's output at the pooled rows
        let x, y: UnsafeMutablePointer<Float>       // ping-pong residuals [N,C]
        let lnf, lnfMean, lnfRstd: UnsafeMutablePointer<Float>  // [B,C], [B], [B]
        let dresidual: UnsafeMutablePointer<Float>  // [N,C]
        let dpooled: UnsafeMutablePointer<Float>    // [B,C]
        let grad: BlockGradScratch
        let pooledGrad: PooledBlockGradScratch
    }

    private var fullTrainableBlocks: Int { max(0, model.config.layers - 1 - firstBlock) }

    private func bodyWorkspace(batch: PackedBatch, training: Bool) -> BodyWorkspace {
        let c = model.config, C = c.channels, N = batch.tokenCount, B = batch.lengths.count
        let fullActs = training ? max(1, fullTrainableBlocks) : 1
        let inputCount = training ? max(1, c.layers - firstBlock) : 1
        let actCount = BlockActivations.count(batch, config: c, keep: training)
        let pooledCount = PooledBlockActivations.count(tokens: N, sequences: B, config: c)
        let maxT = batch.lengths.max() ?? 1
        let gradCount = training ? BlockGradScratch.count(tokens: N, maxLength: maxT, C: C) : 0
        let pooledGradCount = training ? PooledBlockGradScratch.count(tokens: N, sequences: B, maxLength: maxT, config: c) : 0
        let total = fullActs * actCount + pooledCount + (inputCount + 3) * N * C + 3 * B * C + 2 * B + gradCount + pooledGradCount
        var q = work.reserve(total)
        func take(_ n: Int) -> UnsafeMutablePointer<Float> { defer { q += n }; return q }
        return BodyWorkspace(
            acts: (0..<fullActs).map { _ in BlockActivations(take(actCount), batch, config: c, keep: training) },
            inputs: (0..<inputCount).map { _ in take(N * C) },
            pooledActs: PooledBlockActivations(take(pooledCount), tokens: N, sequences: B, config: c),
            pooledOut: take(B * C), x: take(N * C), y: take(N * C),
            lnf: take(B * C), lnfMean: take(B), lnfRstd: take(B),
            dresidual: take(N * C), dpooled: take(B * C),
            grad: BlockGradScratch(take(gradCount), tokens: N, C: C),
            pooledGrad: PooledBlockGradScratch(take(pooledGradCount), tokens: N, sequences: B, config: c))
    }

    private func pack(_ sequences: [[Int32]]) throws -> PackedBatch {
        let c = model.config
        tokenScratch.removeAll(keepingCapacity: true)
        for s in sequences {
            guard !s.isEmpty, s.count <= c.maxPositions else { throw ModelError.sequenceTooLong(length: s.count, maxPositions: c.maxPositions) }
            for t in s where t < 0 || Int(t) >= c.vocabSize { throw ModelError.tokenOutOfRange(token: t, vocabSize: c.vocabSize) }
            tokenScratch.append(contentsOf: s)
        }
        return PackedBatch(lengths: sequences.map(\.count))
    }

    /// Embeddings and the frozen full blocks (0..<min(firstBlock, L−1)) of the packed tokens; the result is in
    /// ws.inputs[0] (the input of the first block that follows).
    private func frozenBlocks(_ ws: BodyWorkspace, _ batch: PackedBatch) -> UnsafeMutablePointer<Float> {
        let c = model.config, C = c.channels, t = model.tensors
        tokenScratch.withUnsafeBufferPointer { encoderForward(ws.inputs[0], $0.baseAddress!, batch, t.wte, t.wpe, C: C) }
        var x = ws.inputs[0], y = ws.x
        for l in 0..<min(firstBlock, c.layers - 1) {
            blockForward(y, x, t.blocks[l], ws.acts[0], batch, config: c)
            swap(&x, &y)
        }
        if x != ws.inputs[0] { ws.inputs[0].update(from: x, count: batch.tokenCount * C) }
        return ws.inputs[0]
    }

    /// Runs the body on `input` and returns the batch layout, the workspace and the pooled ln_f output [B,C].
    private func bodyForward(_ input: ClassifierInput, training: Bool) throws -> (PackedBatch, BodyWorkspace, UnsafeMutablePointer<Float>) {
        let c = model.config, C = c.channels, t = model.tensors
        let batch: PackedBatch
        let ws: BodyWorkspace
        switch input {
        case .pooled(let rows):
            precondition(scope == .headOnly, "pooled features only feed a head-only network")
            batch = PackedBatch(lengths: [Int](repeating: 1, count: rows.count))
            ws = bodyWorkspace(batch: batch, training: false)
            for (b, r) in rows.enumerated() { (ws.lnf + b * C).update(from: r, count: C) }
            return (batch, ws, ws.lnf)
        case .residuals(let rows, let lengths):
            batch = PackedBatch(lengths: lengths)
            ws = bodyWorkspace(batch: batch, training: training)
            for (b, r) in rows.enumerated() { (ws.inputs[0] + batch.starts[b] * C).update(from: r, count: lengths[b] * C) }
        case .tokens(let sequences):
            batch = try pack(sequences)
            ws = bodyWorkspace(batch: batch, training: training)
            _ = frozenBlocks(ws, batch)
        }
        // Trainable full blocks: when training each output is the next block's saved input; otherwise ping-pong.
        var x = ws.inputs[0]
        for l in firstBlock..<max(firstBlock, c.layers - 1) {
            let i = training ? l - firstBlock : 0
            let out = training ? ws.inputs[i + 1] : (x == ws.x ? ws.y : ws.x)
            blockForward(out, x, t.blocks[l], ws.acts[i], batch, config: c)
            x = out
        }
        pooledBlockForward(ws.pooledOut, x, t.blocks[c.layers - 1], ws.pooledActs, batch, config: c)
        layernormForward(ws.lnf, ws.lnfMean, ws.lnfRstd, ws.pooledOut, t.lnfw, t.lnfb, N: batch.lengths.count, C: C, eps: c.layerNormEpsilon)
        return (batch, ws, ws.lnf)
    }

    private func run(_ input: ClassifierInput, windows: [Int]?, bags: [TokenBagFeatures]?, labels: [Int]?, weights: [Float]?) throws -> (loss: Float, probabilities: [[Float]]) {
        let c = model.config, C = c.channels, K = Self.classes, t = model.tensors
        precondition((bag == nil) == (bags == nil), "bag features are given exactly when the classifier has a bag head")
        let (batch, ws, pooledWindows) = try bodyForward(input, training: labels != nil)
        // Windows → examples: pooledWindows[NW,C] → pooled[B,C] (the same buffer when each example is one window).
        let NW = batch.lengths.count
        let groups = windows ?? [Int](repeating: 1, count: NW)
        precondition(groups.allSatisfy { $0 >= 1 } && groups.reduce(0, +) == NW, "windows \(groups) do not group \(NW) sequences")
        let B = groups.count, combined = B != NW
        let q = windowWork.reserve(B * C + NW * C)
        let pooled = combined ? q : pooledWindows, dlnfWindows = q + B * C   // [B,C], [NW,C]
        if combined {
            switch windowPooling {
            case .mean: windowMeanForward(pooled, pooledWindows, groups: groups, C: C)
            case .max:
                if windowArgmax.count < B * C { windowArgmax = [Int32](repeating: 0, count: B * C) }
                windowArgmax.withUnsafeMutableBufferPointer { windowMaxForward(pooled, $0.baseAddress!, pooledWindows, groups: groups, C: C) }
            }
        }

        // Heads: logits[B,K] = pooled[B,C] · Wᵀ + bias; with a bag head, bagLogits[B,K] = bags · Vᵀ.
        // The classifier's probabilities are softmax(logits + bagLogits).
        let W = UnsafePointer(head.baseAddress!), bias = W + K * C
        var logits = [Float](repeating: 0, count: B * K)
        for b in 0..<B { for k in 0..<K { logits[b * K + k] = vdot(W + k * C, pooled + b * C, C) + bias[k] } }
        var bagLogits = [Float](repeating: 0, count: bags == nil ? 0 : B * K)
        if let bags {
            precondition(bags.count == B, "\(bags.count) bags for \(B) examples")
            bagLogits.withUnsafeMutableBufferPointer { tokenBagForward($0.baseAddress!, bagWeights.baseAddress!, bags, D: bag!.buckets, K: K) }
        }
        let probs: [[Float]] = (0..<B).map { b in softmax((0..<K).map { k in logits[b * K + k] + (bags == nil ? 0 : bagLogits[b * K + k]) }) }
        guard let labels, let weights else { return (0, probs) }

        // Loss Σ w_b·CE_b / Σ w_b and the heads' backward: dlogits = w_b·(p − onehot)/Σw, where p is the
        // combined softmax (`.joint`, or no bag) or each head's own (`.separate`, CE_b the sum of both heads').
        let totalWeight = weights.reduce(0, +)
        let separate = bags != nil && bagObjective == .separate
        var loss: Float = 0
        let dW = headGradients.baseAddress!, dbias = dW + K * C
        var dlnf = [Float](repeating: 0, count: B * C)
        var dBagLogits = [Float](repeating: 0, count: bagLogits.count)
        for b in 0..<B {
            let headP = separate ? softmax(Array(logits[(b * K)..<(b * K + K)])) : probs[b]
            loss -= weights[b] * Foundation.log(max(headP[labels[b]], 1e-30)) / totalWeight
            for k in 0..<K {
                let dlogit = weights[b] * (headP[k] - (k == labels[b] ? 1 : 0)) / totalWeight
                for ch in 0..<C {
                    dW[k * C + ch] += dlogit * pooled[b * C + ch]
                    dlnf[b * C + ch] += dlogit * W[k * C + ch]
                }
                dbias[k] += dlogit
                if bags != nil && !separate { dBagLogits[b * K + k] = dlogit }
            }
            if separate {
                let bagP = softmax(Array(bagLogits[(b * K)..<(b * K + K)]))
                loss -= weights[b] * Foundation.log(max(bagP[labels[b]], 1e-30)) / totalWeight
                for k in 0..<K { dBagLogits[b * K + k] = weights[b] * (bagP[k] - (k == labels[b] ? 1 : 0)) / totalWeight }
            }
        }
        if let bags {
            dBagLogits.withUnsafeBufferPointer { tokenBagBackward(bagGradients.baseAddress!, $0.baseAddress!, bags, D: bag!.buckets, K: K) }
        }
        if scope == .headOnly { return (loss, probs) }

        // ln_f, then the pooled last block, then the full trainable blocks top-down, then the embeddings.
        func grads(_ l: Int) -> BlockTensors { BlockTensors(gradients.baseAddress! + (model.layout.blockOffset(l) - trainableOffset), C: C) }
        let glnfw = gradients.baseAddress! + (model.layout.lnfOffset - trainableOffset)
        if combined {
            dlnf.withUnsafeBufferPointer { d in
                switch windowPooling {
                case .mean: windowMeanBackward(dlnfWindows, d.baseAddress!, groups: groups, C: C)
                case .max: windowArgmax.withUnsafeBufferPointer { windowMaxBackward(dlnfWindows, d.baseAddress!, $0.baseAddress!, groups: groups, C: C) }
                }
            }
        } else {
            dlnf.withUnsafeBufferPointer { dlnfWindows.update(from: $0.baseAddress!, count: B * C) }
        }
        ws.dpooled.update(repeating: 0, count: NW * C)
        layernormBackward(ws.dpooled, glnfw, glnfw + C, dlnfWindows, ws.pooledOut, t.lnfw, ws.lnfMean, ws.lnfRstd, N: NW, C: C)
        let last = c.layers - 1
        pooledBlockBackward(ws.dresidual, ws.dpooled, grads(last), ws.inputs[last - firstBlock], t.blocks[last],
                            ws.pooledActs, ws.pooledGrad, batch, config: c)
        for l in stride(from: last - 1, through: firstBlock, by: -1) {
            let i = l - firstBlock
            blockBackward(ws.dresidual, grads(l), ws.inputs[i], t.blocks[l], ws.acts[i], ws.grad, batch, config: c)
        }
        if scope == .all {
            let g = gradients.baseAddress!
            tokenScratch.withUnsafeBufferPointer {
                encoderBackward(g, g + model.layout.wteCount, ws.dresidual, $0.baseAddress!, batch, C: C)
            }
        }
        return (loss, probs)
    }
}

/// How a bag head learns beside the GPT head.
public enum BagObjective: String, Sendable, Codable, CaseIterable {
    /// Each head minimises its own cross-entropy (two classifiers trained side by side, their logits summed).
    case separate
    /// Both minimise the cross-entropy of the summed logits (one classifier; the faster-learning bag leaves the
    /// body less to learn).
    case joint
}

private func softmax(_ logits: [Float]) -> [Float] {
    let m = logits.max()!
    let e = logits.map { Foundation.exp($0 - m) }
    let sum = e.reduce(0, +)
    return e.map { $0 / sum }
}
