/// Binary classification metrics with spam as the positive class.
public struct Metrics: Sendable, Codable, Equatable {
    public var tp = 0, fp = 0, tn = 0, fn = 0
    public var auc: Double = .nan
    public var loss: Double?

    public var count: Int { tp + fp + tn + fn }
    public var accuracy: Double { ratio(tp + tn, count) }
    public var precision: Double { ratio(tp, tp + fp) }
    public var recall: Double { ratio(tp, tp + fn) }
    public var f1: Double { precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall) }
    /// False-positive rate: the share of ham called spam.
    public var fpr: Double { ratio(fp, fp + tn) }

    private func ratio(_ a: Int, _ b: Int) -> Double { b == 0 ? 0 : Double(a) / Double(b) }

    public init() {}

    /// Metrics of spam probabilities against labels (1 = spam) at `threshold`.
    public init(probabilities: [Float], labels: [Int], threshold: Float = 0.5, loss: Double? = nil) {
        precondition(probabilities.count == labels.count)
        for (p, y) in zip(probabilities, labels) {
            switch (p >= threshold, y == 1) {
            case (true, true): tp += 1
            case (true, false): fp += 1
            case (false, false): tn += 1
            case (false, true): fn += 1
            }
        }
        auc = Self.rocAUC(probabilities, labels)
        self.loss = loss
    }

    /// Area under the ROC curve: the probability that a random spam scores above a random ham (ties count half).
    static func rocAUC(_ scores: [Float], _ labels: [Int]) -> Double {
        let positives = labels.filter { $0 == 1 }.count, negatives = labels.count - positives
        guard positives > 0, negatives > 0 else { return .nan }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSum = 0.0, i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let averageRank = Double(i + j) / 2 + 1
            for k in i...j where labels[order[k]] == 1 { rankSum += averageRank }
            i = j + 1
        }
        return (rankSum - Double(positives * (positives + 1)) / 2) / Double(positives * negatives)
    }

    enum CodingKeys: String, CodingKey { case accuracy, precision, recall, f1, fpr, auc, tp, fp, tn, fn, loss }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(accuracy, forKey: .accuracy); try c.encode(precision, forKey: .precision)
        try c.encode(recall, forKey: .recall); try c.encode(f1, forKey: .f1); try c.encode(fpr, forKey: .fpr)
        try c.encode(auc.isNaN ? nil : auc, forKey: .auc)
        try c.encode(tp, forKey: .tp); try c.encode(fp, forKey: .fp); try c.encode(tn, forKey: .tn); try c.encode(fn, forKey: .fn)
        try c.encodeIfPresent(loss, forKey: .loss)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        tp = try c.decode(Int.self, forKey: .tp); fp = try c.decode(Int.self, forKey: .fp)
        tn = try c.decode(Int.self, forKey: .tn); fn = try c.decode(Int.self, forKey: .fn)
        auc = try c.decodeIfPresent(Double.self, forKey: .auc) ?? .nan
        loss = try c.decodeIfPresent(Double.self, forKey: .loss)
    }

    /// One line for logs: `acc 99.42% P 99.1% R 98.9% FPR 0.24% AUC 0.9991 (n=1210)`.
    public var summary: String {
        func pct(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }
        return "acc \(pct(accuracy)) precision \(pct(precision)) recall \(pct(recall)) FPR \(pct(fpr)) AUC \(auc.isNaN ? "n/a" : String(format: "%.4f", auc)) (n=\(count))"
    }
}
