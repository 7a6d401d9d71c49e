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

    struct Group {
        let values: UnsafeMutablePointer<Float>
        let gradients: UnsafePointer<Float>
        let m, v: UnsafeMutablePointer<Float>
        let count: Int
    }

    public var hyper: Hyperparameters
    private var groups: [Group] = []
    public private(set) var step = 0

    public init(_ hyper: Hyperparameters) { self.hyper = hyper }

    deinit { for g in groups { g.m.deallocate(); g.v.deallocate() } }

    public func addGroup(values: UnsafeMutableBufferPointer<Float>, gradients: UnsafeMutableBufferPointer<Float>) {
        precondition(values.count == gradients.count)
        let m = UnsafeMutablePointer<Float>.allocate(capacity: values.count), v = UnsafeMutablePointer<Float>.allocate(capacity: values.count)
        m.initialize(repeating: 0, count: values.count); v.initialize(repeating: 0, count: values.count)
        groups.append(Group(values: values.baseAddress!, gradients: UnsafePointer(gradients.baseAddress!), m: m, v: v, count: values.count))
    }

    /// One update with learning rate `lr` (a schedule may vary it per step).
    public func update(learningRate lr: Float) {
        step += 1
        let b1 = hyper.beta1, b2 = hyper.beta2, eps = hyper.epsilon, wd = hyper.weightDecay
        let c1 = 1 - Float(pow(Double(b1), Double(step))), c2 = 1 - Float(pow(Double(b2), Double(step)))
        for g in groups {
            let p = g.values, d = g.gradients, m = g.m, v = g.v
            for i in 0..<g.count {
                let grad = d[i]
                m[i] = b1 * m[i] + (1 - b1) * grad
                v[i] = b2 * v[i] + (1 - b2) * grad * grad
                let mhat = m[i] / c1, vhat = v[i] / c2
                p[i] -= lr * (mhat / (vhat.squareRoot() + eps) + wd * p[i])
            }
        }
    }
}
