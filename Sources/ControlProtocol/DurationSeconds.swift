extension Duration {
    /// The duration in seconds, as a `Double` (for logs, JSON replies and timeouts in seconds).
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
