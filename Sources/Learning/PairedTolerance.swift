import Foundation

/// A one-sided paired test of "no worse than a tolerance": given how many of `population` items a change made
/// worse and how many it made better, is the net harm larger than the tolerated share of the population plus what
/// chance explains?
///
/// The chance part is the normal approximation of McNemar's test: if each item that changed was as likely to
/// change for the better as for the worse, `worse − better` has mean 0 and standard deviation √(worse + better),
/// so the net harm a change may show by chance at confidence `c` is z(c)·√(worse + better), z(c) the standard
/// normal quantile. At confidence 0.5 (z = 0) the test is the plain comparison of the two counts.
public struct PairedTolerance: Sendable, Equatable {
    /// The tolerated net harm, as a fraction of the population.
    public var tolerance: Double
    /// The one-sided standard normal quantile of the confidence.
    public var z: Double

    public init(tolerance: Double, confidence: Double) {
        self.tolerance = tolerance
        z = Self.normalQuantile(confidence)
    }

    /// The net harm (`worse − better`) allowed among `population` items of which `worse + better` changed.
    public func allowed(population: Int, worse: Int, better: Int) -> Double {
        tolerance * Double(population) + z * Double(worse + better).squareRoot()
    }

    /// The allowed net harm in whole items: a count `worse − better` above it is refused.
    public func allowedCount(population: Int, worse: Int, better: Int) -> Int {
        // A hair of slack for rounding: 0.002 × 500 must allow 1.
        Int((allowed(population: population, worse: worse, better: better) + 1e-9).rounded(.down))
    }

    public func refuses(population: Int, worse: Int, better: Int) -> Bool {
        worse - better > allowedCount(population: population, worse: worse, better: better)
    }

    /// The `p` quantile of the standard normal distribution (Φ⁻¹), by bisection on Φ(z) = erfc(−z/√2)/2; p in (0, 1).
    static func normalQuantile(_ p: Double) -> Double {
        precondition(p > 0 && p < 1, "a probability strictly between 0 and 1")
        var (low, high) = (-40.0, 40.0)
        for _ in 0..<200 {
            let mid = (low + high) / 2
            if erfc(-mid / 2.0.squareRoot()) / 2 < p { low = mid } else { high = mid }
        }
        return (low + high) / 2
    }
}
