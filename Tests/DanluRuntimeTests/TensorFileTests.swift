import DanluDiagnostics
import DanluIR
import DanluRuntime
import DanluTestSupport
import Foundation
import Testing

/// Truncated, malformed and hostile `.safetensors` / `.npy` files are errors with a reason, never crashes.
@Suite struct TensorFileTests {
  let folder = Repository.temporaryFolder()

  /// A safetensors file with a given JSON header and data.
  func safetensors(_ header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> String {
    let json = Array(header.utf8)
    let length = declaredLength ?? UInt64(json.count)
    let prefix = (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) }
    return folder.file("w\(UUID().uuidString).safetensors", prefix + json + data)
  }

  func problem(_ path: String) -> String? {
    do {
      _ = try WeightSet(contentsOf: path).tensors
      return nil
    } catch {
      return error.diagnostics[0].message
    }
  }

  @Test func roundTripsThroughTheAtomicWriter() throws {
    let tensors = [("a.weight", Tensor.random([3, 4], seed: 1)), ("b", Tensor.random([5], seed: 2))]
    let path = folder.appendingPathComponent("w.safetensors").path
    try WeightSet(tensors.map { ($0.0, $0.1) }).write(to: path)
    let read = try WeightSet(contentsOf: path).tensors
    #expect(read["a.weight"] == tensors[0].1)
    #expect(read["b"] == tensors[1].1)
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.contains(".tmp.") }
    #expect(leftovers.isEmpty)
  }

  @Test func aFailedWriteLeavesTheOldFileIntact() throws {
    let path = folder.appendingPathComponent("keep.safetensors").path
    try WeightSet([("x", Tensor.random([2], seed: 3))]).write(to: path)
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    #expect(throws: DiagnosticError.self) {
      try WeightSet([("x", Tensor.random([2], seed: 4))]).write(to: folder.appendingPathComponent("missing/dir/x.safetensors").path)
    }
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
  }

  @Test(arguments: [
    ("empty file", "", "too short"),
    ("header longer than file", "{}", "exceeds the file"),
    ("not json", "hello!!!", "malformed header"),
    ("unterminated", "{\"a\": {\"dtype\": \"F32\"", "malformed header"),
    ("unknown dtype", "{\"a\": {\"dtype\": \"Q7\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "unknown dtype 'Q7'"),
    ("offsets past the end", "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", "fall outside"),
    ("offsets reversed", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", "fall outside"),
    ("size disagrees with shape", "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", "bytes of data for"),
    ("huge shape", "{\"a\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904, 4], \"data_offsets\": [0, 4]}}", "too large"),
    ("missing fields", "{\"a\": {\"dtype\": \"F32\"}}", "needs dtype, shape and data_offsets"),
    ("duplicate tensor", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "appears twice"),
    ("too many dims", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}", "too many dimensions"),
  ])
  func rejectsBadSafetensors(_ name: String, _ header: String, _ expected: String) {
    let path: String
    switch name {
    case "empty file": path = folder.file("empty.safetensors", [])
    case "header longer than file": path = safetensors(header, declaredLength: 1 << 40)
    default: path = safetensors(header, data: [0, 0, 128, 63])
    }
    let message = problem(path)
    #expect(message?.contains(expected) == true, "\(name): \(message ?? "no error")")
  }

  @Test func rejectsTruncatedFiles() throws {
    let path = folder.appendingPathComponent("full.safetensors").path
    try WeightSet([("x", Tensor.random([64], seed: 5))]).write(to: path)
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    for cut in [4, 20, bytes.count - 1] {
      let message = problem(folder.file("cut\(cut).safetensors", Array(bytes.prefix(cut))))
      #expect(message != nil, "truncated at \(cut) bytes was accepted")
    }
  }

  @Test func survivesRandomGarbage() {
    var generator = SeededGenerator(seed: 42)
    for i in 0..<300 {
      let count = Int(generator.next() % 200)
      var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
      if i % 2 == 0, count >= 8 { for k in 0..<8 { bytes[k] = k == 0 ? UInt8(count - 8) : 0 } }  // a plausible length
      _ = problem(folder.file("garbage\(i).safetensors", bytes))
    }
  }

  @Test func npyRoundTripsAndRejectsBadFiles() throws {
    let tensor = Tensor.random([2, 3, 4], seed: 7)
    let path = folder.appendingPathComponent("x.npy").path
    try NPY.write(tensor, to: path)
    #expect(try NPY.read(path) == tensor)
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    func npyProblem(_ data: [UInt8]) -> String? {
      do { _ = try NPY.read(folder.file("t\(UUID().uuidString).npy", data)); return nil } catch { return error.diagnostics[0].message }
    }
    #expect(npyProblem(Array(bytes.dropLast(4)))?.contains("truncated") == true)
    #expect(npyProblem(Array("not numpy at all".utf8))?.contains("bad magic") == true)
    let header = String(decoding: bytes[10..<(10 + Int(bytes[8]))], as: UTF8.self)
    let asDouble = Array(header.replacingOccurrences(of: "<f4", with: "<f8").utf8)
    #expect(npyProblem(Array(bytes[0..<10]) + asDouble + Array(bytes[(10 + Int(bytes[8]))...]))?.contains("dtype '<f8' is not supported") == true)
    let fortran = Array(header.replacingOccurrences(of: "False", with: "True ").utf8)
    #expect(npyProblem(Array(bytes[0..<10]) + fortran + Array(bytes[(10 + Int(bytes[8]))...]))?.contains("Fortran") == true)
    #expect(npyProblem(Array(bytes.prefix(9)))?.contains("bad magic") == true)
  }
}
