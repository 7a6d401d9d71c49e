import Foundation

/// The labeled data of one training run, assembled from source arguments the way `spamguardctl train` does it:
/// training data; validation data from its own source or, without one, a seeded 10% held out of the training
/// data; optional test data. The learning loop rebuilds the same sets from a bundle's manifest to replay them.
public struct TrainingData: Sendable {
    public var train: LoadedExamples
    public var validation: LoadedExamples
    public var test: LoadedExamples?
    /// The source arguments by split ("train", and "validation" / "test" when given), as manifests record them.
    public var sources: [String: String]

    /// The share of the training data held out for validation when no validation source is given.
    public static let heldOutFraction = 0.1

    /// Loads every split. `loaded(split, source, examples)` reports each as it is read; `source` is nil for
    /// validation held out of the training data.
    /// - Throws: `DataError` for a bad source or one without usable examples.
    public static func load(
        train: String, validation: String?, test: String?, seed: UInt64,
        loaded: (_ split: String, _ source: String?, LoadedExamples) -> Void = { _, _, _ in }
    ) throws(DataError) -> TrainingData {
        var trainData = try loadSource(train)
        loaded("train", train, trainData)
        var sources = ["train": train]
        let validationData: LoadedExamples
        if let validation {
            validationData = try loadSource(validation)
            sources["validation"] = validation
            loaded("validation", validation, validationData)
        } else {
            (trainData, validationData) = trainData.split(holdOut: heldOutFraction, seed: seed)
            loaded("validation", nil, validationData)
        }
        var testData: LoadedExamples?
        if let test {
            testData = try loadSource(test)
            sources["test"] = test
            loaded("test", test, testData!)
        }
        return TrainingData(train: trainData, validation: validationData, test: testData, sources: sources)
    }

    /// The training and validation data a classifier was trained on, from the sources its manifest records and
    /// with the same seeded hold-out (test data is not loaded).
    public static func replaying(_ training: ClassifierManifest.Training) throws(DataError) -> TrainingData {
        guard let train = training.sources["train"] else {
            throw DataError.badSource("(manifest)", "the manifest records no training source")
        }
        return try load(train: train, validation: training.sources["validation"], test: nil, seed: training.settings.seed)
    }

    /// Counts per split, as manifests record them.
    public var summary: [String: ClassifierManifest.SplitSummary] {
        func summary(_ d: LoadedExamples) -> ClassifierManifest.SplitSummary {
            .init(spam: d.spamCount, ham: d.hamCount, skipped: d.skipped.count)
        }
        var summaries = ["train": summary(train), "validation": summary(validation)]
        if let test { summaries["test"] = summary(test) }
        return summaries
    }

    private static func loadSource(_ argument: String) throws(DataError) -> LoadedExamples {
        let data = try DataSource(parsing: argument).load()
        guard !data.examples.isEmpty else { throw DataError.empty(argument) }
        return data
    }
}
