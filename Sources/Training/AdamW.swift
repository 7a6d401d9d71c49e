import Dispatch
import GPT
import Foundation

/// AdamW (Loshchilov & Hutter) over groups of parameters, each a (values, gradients) pair of equal length.
/// Moments are allocated once, next to the parameters they follow.
public final class AdamW {
    public struct Hyperparameters: Sendable, Codable, Hashable {
        public var learningRate: Float = 5e-5
        public var beta1: Float = 0.9
        public var beta2: Float = 0.999
        public var epsilon: Float = 1e-8
        public var weightDecay: Float = 0.1
        public init() {}
    }

    struct Group: @unchecked Sendable {  // disjoint ranges are updated from several threads
        let values: UnsafeMutablePointer<Float>
        let gradients: UnsafePointer<Float>
        let m, v: UnsafeMutablePointer<Float>
        let count: Int
        let learningRateScale: Float
        /// Decoupled weight decay per unit of this group's learning rate; nil: `hyper.weightDecay`.
        let weightDecay: Float?
    }

    public var hyper: Hyperparameters
    private var groups: [Group] = []
    public private(set) var step = 0

    public init(_ hyper: Hyperparameters) { self.hyper = hyper }

    deinit { for g in groups { g.m.deallocate(); g.v.deallocate() } }

    /// - Parameter learningRateScale: this group's learning rate relative to the one `update` is given (a linear
    ///   head on sparse features learns at a far higher rate than the body).
    /// - Parameter weightDecay: this group's weight decay, when it is not `hyper.weightDecay`.
    public func addGroup(values: UnsafeMutableBufferPointer<Float>, gradients: UnsafeMutableBufferPointer<Float>, learningRateScale: Float = 1,
                         weightDecay: Float? = nil) {
        precondition(values.count == gradients.count)
        let m = UnsafeMutablePointer<Float>.allocate(capacity: values.count), v = UnsafeMutablePointer<Float>.allocate(capacity: values.count)
        m.initialize(repeating: 0, count: values.count); v.initialize(repeating: 0, count: values.count)
        groups.append(Group(values: values.baseAddress!, gradients: UnsafePointer(gradients.baseAddress!), m: m, v: v, count: values.count,
                            learningRateScale: learningRateScale, weightDecay: weightDecay))
    }

    /// One update with learning rate `lr` (a schedule may vary it per step), split across cores, each range
    /// through the vector kernel of the CPU's tier (see `ElementwiseKernels`).
    public func update(learningRate lr: Float) {
        step += 1
        let b1 = hyper.beta1, b2 = hyper.beta2, eps = hyper.epsilon
        let c1 = 1 - Float(pow(Double(b1), Double(step))), c2 = 1 - Float(pow(Double(b2), Double(step)))
        let vScale = 1 / c2
        for g in groups {
            let groupRate = lr * g.learningRateScale, stepSize = groupRate / c1, wd = g.weightDecay ?? hyper.weightDecay
            // Split across cores unless the caller keeps its kernels on its own thread (the learning loop's
            // low-priority finetuning: Dispatch's workers would run this at normal priority beside the mail).
            let threads = g.count >= 1 << 16 ? BLASSetup.kernelThreads : 1
            let per = ((g.count + threads - 1) / threads + 15) / 16 * 16
            let kernels = ElementwiseKernels.best
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let lo = min(g.count, t * per), hi = min(g.count, lo + per)
                kernels.adamwUpdate(values: g.values + lo, gradients: g.gradients + lo, m: g.m + lo, v: g.v + lo, count: hi - lo,
                                    beta1: b1, beta2: b2, epsilon: eps, stepSize: stepSize, vScale: vScale, decay: groupRate * wd)
            }
        }
    }
}
