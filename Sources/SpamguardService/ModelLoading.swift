import Logging

/// Loading a classifier off the cooperative pool, with the log lines an operator needs.
public enum ModelLoading {
    public enum Outcome: Sendable {
        case loaded(any ClassifierModel, Duration)
        /// Nothing trained yet (or no base model): not an error in the model, an empty state directory.
        case missing(ModelLoadError)
        /// Files are there but were refused: corrupt, truncated, wrong shape, unreadable.
        case refused(any Error)
    }

    /// Loads on a dedicated thread: reading and checking hundreds of megabytes must not hold a thread of
    /// Swift's cooperative pool.
    public static func load(_ location: ModelLocation, with loader: any ClassifierLoader) async -> Outcome {
        await onDedicatedThread {
            let clock = ContinuousClock()
            let start = clock.now
            do {
                let model = try loader.load(location)
                return .loaded(model, start.duration(to: clock.now))
            } catch let error as ModelLoadError {
                return .missing(error)
            } catch {
                return .refused(error)
            }
        }
    }

    /// Loads at start: without a usable classifier the daemon still runs and passes mail on unscanned,
    /// so mail never waits for a model; the log says why, and what to do.
    public static func loadAtStart(_ location: ModelLocation, with loader: any ClassifierLoader, logger: Logger) async -> (any ClassifierModel)? {
        switch await load(location, with: loader) {
        case .loaded(let model, let elapsed):
            logger.notice("model \(model.version) loaded from \(location.classifier) (base \(location.base)) in \(MessageFilter.milliseconds(elapsed)) ms")
            return model
        case .missing(let error):
            logger.error("\(error); until then every message passes unscanned")
            return nil
        case .refused(let error):
            logger.critical("refusing the model (base \(location.base), classifier \(location.classifier)): \(error); every message passes unscanned until a good model is in place and the daemon reloaded")
            return nil
        }
    }
}

/// Runs `work` on a new thread and suspends until it is done.
func onDedicatedThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        OSThread { continuation.resume(returning: work()) }.detach()
    }
}
