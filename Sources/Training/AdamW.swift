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

    /// One update with learning rate `lr` (a schedule may vary it per step): 16 lanes at a time, split across
    /// cores. Written out with SIMD because the compiler cannot vectorise four pointers that might alias.
    public func update(learningRate lr: Float) {
        step += 1
        let b1 = hyper.beta1, b2 = hyper.beta2, eps = hyper.epsilon, wd = hyper.weightDecay
        let c1 = 1 - Float(pow(Double(b1), Double(step))), c2 = 1 - Float(pow(Double(b2), Double(step)))
        let stepSize = lr / c1, vScale = 1 / c2
        for g in groups {
            // Split across cores unless the caller keeps its kernels on its own thread (the learning loop's
            // low-priority finetuning: Dispatch's workers would run this at normal priority beside the mail).
            let threads = g.count >= 1 << 16 ? BLASSetup.kernelThreads : 1
            let per = ((g.count + threads - 1) / threads + 15) / 16 * 16
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let lo = min(g.count, t * per), hi = min(g.count, lo + per)
                var i = lo
                while i + 16 <= hi {
                    let grad = UnsafeRawPointer(g.gradients + i).loadUnaligned(as: SIMD16<Float>.self)
                    var m = UnsafeRawPointer(g.m + i).loadUnaligned(as: SIMD16<Float>.self)
                    var v = UnsafeRawPointer(g.v + i).loadUnaligned(as: SIMD16<Float>.self)
                    var p = UnsafeRawPointer(g.values + i).loadUnaligned(as: SIMD16<Float>.self)
                    m = b1 * m + (1 - b1) * grad
                    v = b2 * v + (1 - b2) * grad * grad
                    p -= stepSize * m / (squareRoot(v * vScale) + eps) + lr * wd * p
                    UnsafeMutableRawPointer(g.m + i).storeBytes(of: m, as: SIMD16<Float>.self)
                    UnsafeMutableRawPointer(g.v + i).storeBytes(of: v, as: SIMD16<Float>.self)
                    UnsafeMutableRawPointer(g.values + i).storeBytes(of: p, as: SIMD16<Float>.self)
                    i += 16
                }
                while i < hi {
                    let grad = g.gradients[i]
                    g.m[i] = b1 * g.m[i] + (1 - b1) * grad
                    g.v[i] = b2 * g.v[i] + (1 - b2) * grad * grad
                    g.values[i] -= stepSize * g.m[i] / ((g.v[i] * vScale).squareRoot() + eps) + lr * wd * g.values[i]
                    i += 1
                }
            }
        }
    }
}

/// √x on 16 lanes for x ≥ 0, to float precision: x·(1/√x), with 1/√x from the bit-pattern estimate and three
/// Newton steps. SIMD16's own squareRoot() is 16 calls to sqrtf (errno semantics); this stays in vector registers.
/// (x = 0 gives 0; tiny x may come out smaller than √x, which AdamW's ε makes irrelevant.)
@inline(__always) private func squareRoot(_ x: SIMD16<Float>) -> SIMD16<Float> {
    var r = unsafeBitCast(SIMD16<UInt32>(repeating: 0x5F37_5A86) &- (unsafeBitCast(x, to: SIMD16<UInt32>.self) &>> 1), to: SIMD16<Float>.self)
    let half = 0.5 * x
    for _ in 0..<3 { r = r * (1.5 - half * r * r) }
    return x * r
}
