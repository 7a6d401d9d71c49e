import Foundation
import Testing
@testable import GPT

@Suite struct SafeTensorsTests {
    /// A file with the given header JSON and `dataBytes` zero bytes of data.
    func file(header: String, dataBytes: Int, in dir: URL, lengthOverride: UInt64? = nil) throws -> URL {
        var d = Data()
        let h = Data(header.utf8)
        withUnsafeBytes(of: (lengthOverride ?? UInt64(h.count)).littleEndian) { d.append(contentsOf: $0) }
        d.append(h)
        d.append(Data(count: dataBytes))
        let url = dir.appendingPathComponent("t-\(UUID().uuidString.prefix(6)).safetensors")
        try d.write(to: url)
        return url
    }

    func reason(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    @Test func corruptFilesAreRejectedWithTheReason() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ok = #"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#
        let cases: [(URL, String)] = [
            (try file(header: ok, dataBytes: 8, in: dir), "outside the 8-byte data section (truncated?)"),
            (try file(header: ok, dataBytes: 16, in: dir, lengthOverride: 1 << 40), "runs past the end"),
            (try file(header: "{not json", dataBytes: 16, in: dir), "header is not a JSON object"),
            (try file(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#, dataBytes: 16, in: dir), "do not hold shape [3]"),
            (try file(header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, dataBytes: 16, in: dir), "overlap"),
            (try file(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,16]}}"#, dataBytes: 16, in: dir), "negative dimension"),
            (try file(header: #"{"a":{"shape":[4],"data_offsets":[0,16]}}"#, dataBytes: 16, in: dir), "entry needs dtype"),
        ]
        for (url, expected) in cases {
            let message = reason { _ = try SafeTensorsFile(url: url) }
            #expect(message.contains(expected), "\(message)")
            #expect(message.contains(url.lastPathComponent), "error must name the file: \(message)")
        }
        let tiny = dir.appendingPathComponent("tiny")
        try Data([1, 2, 3]).write(to: tiny)
        #expect(reason { _ = try SafeTensorsFile(url: tiny) }.contains("shorter than the 8-byte header length"))
        #expect(reason { _ = try SafeTensorsFile(url: dir.appendingPathComponent("absent")) }.contains("cannot read"))
    }

    @Test func missingTensorsWrongShapesAndDTypesNameTheTensor() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SafeTensorsFile(url: try file(header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"i":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}}"#, dataBytes: 24, in: dir))
        #expect(reason { _ = try f.floats("b", shape: [4]) }.contains("tensor \"b\" is missing"))
        #expect(reason { _ = try f.floats("a", shape: [2, 2]) }.contains("tensor \"a\" has shape [4], expected [2, 2]"))
        #expect(reason { _ = try f.floats("i", shape: [1]) }.contains("tensor \"i\" has dtype I64"))
    }

    @Test func halfAndBFloat16AreConvertedOnLoad() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let values: [Float] = [0, 1, -2.5, 0.333_251_95, 65504]
        var data = Data()
        let header = #"{"h":{"dtype":"F16","shape":[5],"data_offsets":[0,10]},"b":{"dtype":"BF16","shape":[5],"data_offsets":[10,20]}}"#
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(Data(header.utf8))
        for v in values { withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        for v in values { withUnsafeBytes(of: UInt16(v.bitPattern >> 16).littleEndian) { data.append(contentsOf: $0) } }
        let url = dir.appendingPathComponent("half.safetensors")
        try data.write(to: url)
        let f = try SafeTensorsFile(url: url)
        #expect(try f.floats("h", shape: [5]) == values.map { Float(Float16($0)) })
        #expect(try f.floats("b", shape: [5]) == values.map { Float(bitPattern: $0.bitPattern & 0xFFFF_0000) })
    }

    @Test func modelLoadNamesTheMissingTensor() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try GPTModel(config: tinyConfig, seed: 1).save(to: dir)
        // Rewrite the file without ln_f.bias.
        let full = try SafeTensorsFile(url: dir.appendingPathComponent("model.safetensors"))
        var tensors: [SafeTensorsWriter.Tensor] = []
        for (name, info) in full.tensors where name != "ln_f.bias" {
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: info.count)
            try full.read(name, shape: info.shape, into: buffer.baseAddress!)
            tensors.append(SafeTensorsWriter.Tensor(name: name, shape: info.shape, values: UnsafeBufferPointer(buffer)))
        }
        defer { for t in tensors { t.values.deallocate() } }
        try SafeTensorsWriter.write(tensors, to: dir.appendingPathComponent("model.safetensors"))
        #expect(reason { _ = try GPTModel.load(directory: dir) }.contains("tensor \"ln_f.bias\" is missing"))
        try Data("{\"n_embd\": 24}".utf8).write(to: dir.appendingPathComponent("config.json"))
        #expect(reason { _ = try GPTModel.load(directory: dir) }.contains("missing key \"vocab_size\""))
    }
}
