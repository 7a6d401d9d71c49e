import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A read-only, memory-mapped `.safetensors` file.
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON
/// (`{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`),
/// then the data; offsets are relative to the start of the data. Everything in the header is checked
/// against the file before any tensor is read, so a truncated or corrupt file is an error, never garbage.
public final class SafeTensorsFile {
    public enum DType: String, Sendable {
        case f32 = "F32", f16 = "F16", bf16 = "BF16"
        var size: Int { self == .f32 ? 4 : 2 }
    }

    public struct TensorInfo: Sendable {
        public let name: String
        public let dtype: String            // as written; only F32/F16/BF16 can be read as floats
        public let shape: [Int]
        public let range: Range<Int>        // byte range inside the data section
        public var count: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]
    private let base: UnsafeMutableRawPointer   // the whole mapping
    private let mappedSize: Int
    private let dataOffset: Int

    public init(url: URL) throws {
        path = url.path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ModelError.unreadable(path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ModelError.unreadable(path, reason: String(cString: strerror(errno))) }
        let size = Int(st.st_size)
        guard size >= 8 else { throw ModelError.corrupt(path, reason: "file is \(size) bytes, shorter than the 8-byte header length") }
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw ModelError.unreadable(path, reason: "mmap: \(String(cString: strerror(errno)))")
        }
        base = map
        mappedSize = size
        do {
            (tensors, metadata, dataOffset) = try Self.parseHeader(map, size: size, path: path)
        } catch {
            munmap(map, size)
            throw error
        }
    }

    deinit { munmap(base, mappedSize) }

    private static func parseHeader(_ map: UnsafeMutableRawPointer, size: Int, path: String) throws
        -> ([String: TensorInfo], [String: String], Int)
    {
        let headerLength = UInt64(littleEndian: map.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(size - 8) else {
            throw ModelError.corrupt(path, reason: "header length \(headerLength) runs past the end of the \(size)-byte file (truncated?)")
        }
        let n = Int(headerLength)
        let json = Data(bytes: map + 8, count: n)
        guard let object = try? JSONSerialization.jsonObject(with: json), let header = object as? [String: Any] else {
            throw ModelError.corrupt(path, reason: "header is not a JSON object")
        }
        let dataSize = size - 8 - n
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: String] else {
                    throw ModelError.corrupt(path, reason: "__metadata__ must map strings to strings")
                }
                metadata = m
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw ModelError.corrupt(path, reason: "tensor \"\(name)\": entry needs dtype, shape and two data_offsets") }
            guard shape.allSatisfy({ $0 >= 0 }) else {
                throw ModelError.corrupt(path, reason: "tensor \"\(name)\": negative dimension in shape \(shape)")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard 0 <= begin, begin <= end, end <= dataSize else {
                throw ModelError.corrupt(path, reason: "tensor \"\(name)\": data_offsets [\(begin), \(end)] outside the \(dataSize)-byte data section (truncated?)")
            }
            if let known = DType(rawValue: dtype) {
                let (count, overflow) = shape.reduce((1, false)) { acc, d in
                    let r = acc.0.multipliedReportingOverflow(by: d); return (r.partialValue, acc.1 || r.overflow)
                }
                guard !overflow, count * known.size == end - begin else {
                    throw ModelError.corrupt(path, reason: "tensor \"\(name)\": \(end - begin) bytes do not hold shape \(shape) of \(dtype)")
                }
            }
            tensors[name] = TensorInfo(name: name, dtype: dtype, shape: shape, range: begin..<end)
        }
        let sorted = tensors.values.sorted { $0.range.lowerBound < $1.range.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.range.upperBound > b.range.lowerBound {
            throw ModelError.corrupt(path, reason: "tensors \"\(a.name)\" and \"\(b.name)\" overlap")
        }
        return (tensors, metadata, 8 + n)
    }

    /// Copies tensor `name` into `destination` as F32, converting F16/BF16, after checking its shape.
    public func read(_ name: String, shape expected: [Int], into destination: UnsafeMutablePointer<Float>) throws {
        guard let info = tensors[name] else { throw ModelError.missingTensor(path, tensor: name) }
        guard info.shape == expected else {
            throw ModelError.wrongShape(path, tensor: name, expected: expected, found: info.shape)
        }
        guard let dtype = DType(rawValue: info.dtype) else {
            throw ModelError.unsupportedDType(path, tensor: name, dtype: info.dtype)
        }
        let src = UnsafeRawPointer(base + dataOffset + info.range.lowerBound)
        let n = info.count
        switch dtype {
        case .f32:
            memcpy(destination, src, n * 4)
        case .f16:
            let h = src.assumingMemoryBound(to: UInt16.self)
            for i in 0..<n { destination[i] = Float(Float16(bitPattern: UInt16(littleEndian: h[i]))) }
        case .bf16:
            let h = src.assumingMemoryBound(to: UInt16.self)
            for i in 0..<n { destination[i] = Float(bitPattern: UInt32(UInt16(littleEndian: h[i])) << 16) }
        }
    }

    /// The tensor as a new F32 array (for small tensors: heads, biases).
    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        try [Float](unsafeUninitializedCapacity: shape.reduce(1, *)) { buf, count in
            try read(name, shape: shape, into: buf.baseAddress!)
            count = buf.count
        }
    }
}

/// Writes F32 tensors as a `.safetensors` file (names sorted, 8-byte aligned header).
public enum SafeTensorsWriter {
    public struct Tensor {
        public var name: String
        public var shape: [Int]
        public var values: UnsafeBufferPointer<Float>
        public init(name: String, shape: [Int], values: UnsafeBufferPointer<Float>) {
            precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not match \(values.count) values")
            self.name = name; self.shape = shape; self.values = values
        }
    }

    public static func data(_ tensors: [Tensor], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let ordered = tensors.sorted { $0.name < $1.name }
        for t in ordered {
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + t.values.count * 4]] as [String: Any]
            offset += t.values.count * 4
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for t in ordered { out.append(UnsafeBufferPointer(start: UnsafeRawPointer(t.values.baseAddress)?.assumingMemoryBound(to: UInt8.self), count: t.values.count * 4)) }
        return out
    }

    /// Writes atomically: a temporary file in the same directory, fsync'd, then renamed.
    public static func write(_ tensors: [Tensor], metadata: [String: String] = [:], to url: URL) throws {
        try writeDurably(try data(tensors, metadata: metadata), to: url)
    }
}

/// Write `data` to `url` so that a crash leaves either the old file or the whole new one.
public func writeDurably(_ data: Data, to url: URL) throws {
    let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
    guard FileManager.default.createFile(atPath: tmp.path, contents: nil) else {
        throw ModelError.unreadable(tmp.path, reason: "cannot create: \(String(cString: strerror(errno)))")
    }
    let handle = try FileHandle(forWritingTo: tmp)
    do {
        try handle.write(contentsOf: data)
        try handle.synchronize()
        try handle.close()
    } catch {
        try? handle.close()
        unlink(tmp.path)
        throw error
    }
    guard rename(tmp.path, url.path) == 0 else {
        let reason = String(cString: strerror(errno))
        unlink(tmp.path)
        throw ModelError.unreadable(url.path, reason: "rename: \(reason)")
    }
}
