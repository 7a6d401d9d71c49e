#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension sockaddr_un {
    /// The address of the Unix socket at `path`; nil when the path does not fit (107 bytes on Linux).
    public init?(path: String) {
        self.init()
        sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: sun_path)
        guard path.utf8.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
    }

    /// The longest path that fits.
    public static var maxPathLength: Int { MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1 }

    /// Calls `body` with the address as the `sockaddr` that bind(2) and connect(2) take, and its length.
    public func withSocketAddress<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        withUnsafePointer(to: self) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
