#if canImport(Glibc)
import Glibc
#endif

/// Memory for the model's parameters and the engine's workspaces: anonymous pages, asked to be backed by 2 MiB pages where the kernel's
/// transparent huge pages allow it (`madvise` mode, Debian's default). A forward pass at batch 1 streams every
/// weight matrix once; through 4 KiB pages that is a TLB miss per page, some 120 000 of them for GPT-2 124M.
enum LargeAllocation {
    private static let hugePage = 2 << 20

    /// `count` zero-filled floats. Running out of memory stops the process, as Swift's own allocation does.
    static func floats(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        let bytes = max(1, (count * MemoryLayout<Float>.stride + hugePage - 1) / hugePage) * hugePage
        guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
            fatalError("out of memory: mmap of \(bytes) bytes for model tensors failed: \(String(cString: strerror(errno)))")
        }
        _ = madvise(raw, bytes, MADV_HUGEPAGE)  // advice only: without THP the pages stay 4 KiB
        return UnsafeMutableBufferPointer(start: raw.bindMemory(to: Float.self, capacity: count), count: count)
    }

    /// Frees what `floats` returned.
    static func free(_ buffer: UnsafeMutableBufferPointer<Float>) {
        let bytes = max(1, (buffer.count * MemoryLayout<Float>.stride + hugePage - 1) / hugePage) * hugePage
        munmap(buffer.baseAddress, bytes)
    }
}
