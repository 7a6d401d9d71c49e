// Several windows per example. A message longer than the model's positions is read as up to N consecutive
// windows of at most n_positions tokens; the body runs on each window as its own sequence (they are packed into
// one batch like any other sequences), each window yields its pooled final hidden state (ln_f at its last real
// token), and the windows of one example are combined into the one vector the head reads. Shapes: W windows in
// the batch, B examples, C channels; `groups[b]` consecutive windows belong to example b (Σ groups = W).

/// How the pooled hidden states of an example's windows are combined before the head.
public enum WindowPooling: String, Sendable, Codable, CaseIterable {
    /// The mean over windows, channel by channel.
    case mean
    /// The maximum over windows, channel by channel (the gradient goes to the window that held it).
    case max
}

/// out[B,C] = mean over each example's windows of inp[W,C].
public func windowMeanForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, groups: [Int], C: Int) {
    var w = 0
    for (b, n) in groups.enumerated() {
        let o = out + b * C
        o.update(from: inp + w * C, count: C)
        for k in 1..<max(1, n) {
            let x = inp + (w + k) * C
            for c in 0..<C { o[c] += x[c] }
        }
        let scale = 1 / Float(n)
        for c in 0..<C { o[c] *= scale }
        w += n
    }
}

/// dinp[W,C] = dout[B,C] / n for each of an example's n windows (overwritten, not accumulated).
public func windowMeanBackward(_ dinp: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, groups: [Int], C: Int) {
    var w = 0
    for (b, n) in groups.enumerated() {
        let d = dout + b * C, scale = 1 / Float(n)
        for k in 0..<n {
            let x = dinp + (w + k) * C
            for c in 0..<C { x[c] = scale * d[c] }
        }
        w += n
    }
}

/// out[B,C] = max over each example's windows of inp[W,C]; argmax[B,C] = the window (within the example) that
/// held it, the first on ties.
public func windowMaxForward(_ out: UnsafeMutablePointer<Float>, _ argmax: UnsafeMutablePointer<Int32>, _ inp: UnsafePointer<Float>,
                             groups: [Int], C: Int) {
    var w = 0
    for (b, n) in groups.enumerated() {
        let o = out + b * C, a = argmax + b * C
        o.update(from: inp + w * C, count: C)
        a.update(repeating: 0, count: C)
        for k in 1..<max(1, n) {
            let x = inp + (w + k) * C
            for c in 0..<C where x[c] > o[c] { o[c] = x[c]; a[c] = Int32(k) }
        }
        w += n
    }
}

/// dinp[W,C]: dout[B,C] at the window that held each maximum, zero elsewhere (overwritten, not accumulated).
public func windowMaxBackward(_ dinp: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, _ argmax: UnsafePointer<Int32>,
                              groups: [Int], C: Int) {
    var w = 0
    for (b, n) in groups.enumerated() {
        let d = dout + b * C, a = argmax + b * C
        (dinp + w * C).update(repeating: 0, count: n * C)
        for c in 0..<C { dinp[(w + Int(a[c])) * C + c] = d[c] }
        w += n
    }
}
