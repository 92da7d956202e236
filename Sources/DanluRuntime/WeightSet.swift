import CDanluRuntime
import DanluDiagnostics
import DanluIR
import Foundation

/// Named tensors in C memory, as read from or written to `.safetensors`. Binding to a compiled model goes through
/// the C runtime's `danlu_bind_weights`, the same check the standalone binary makes.
public final class WeightSet: @unchecked Sendable {
  var set = danlu_tensor_set()

  /// Reads a `.safetensors` file; a truncated or hostile file is a diagnostic.
  public init(contentsOf path: String) throws(DiagnosticError) {
    var error = [CChar](repeating: 0, count: 1024)
    if danlu_safetensors_read(path, &set, &error, error.count) != 0 {
      throw DiagnosticError(.badTensorFile(path: path, problem: Self.message(error, dropping: path)), at: .unknown)
    }
  }

  /// Copies float32 tensors into one C buffer, in the given order.
  public init(_ tensors: [(name: String, tensor: Tensor)]) {
    let total = tensors.reduce(0) { $0 + $1.tensor.count }
    let buffer = malloc(max(1, total) * 4)!.bindMemory(to: Float.self, capacity: max(1, total))
    // danlu_tensor_set_free releases the names, the table and the buffer: all from malloc.
    let table = malloc(max(1, tensors.count) * MemoryLayout<danlu_tensor>.stride)!
      .bindMemory(to: danlu_tensor.self, capacity: max(1, tensors.count))
    var offset = 0
    for (i, (name, tensor)) in tensors.enumerated() {
      tensor.data.withUnsafeBufferPointer { (buffer + offset).update(from: $0.baseAddress!, count: tensor.count) }
      var entry = danlu_tensor()
      entry.name = strdup(name)
      entry.dtype = DANLU_F32
      entry.rank = Int32(tensor.shape.count)
      withUnsafeMutableBytes(of: &entry.shape) { raw in
        let dims = raw.bindMemory(to: Int64.self)
        for (d, size) in tensor.shape.enumerated() { dims[d] = Int64(size) }
      }
      entry.data = UnsafeMutableRawPointer(buffer + offset)
      entry.nbytes = tensor.count * 4
      (table + i).initialize(to: entry)
      offset += tensor.count
    }
    set = danlu_tensor_set(count: Int32(tensors.count), tensors: table, buffer: UnsafeMutableRawPointer(buffer))
  }

  deinit { danlu_tensor_set_free(&set) }

  public var names: [String] { (0..<Int(set.count)).map { String(cString: set.tensors[$0].name) } }

  /// Float32 tensors by name (other dtypes are left out: the model only reads float32).
  public var tensors: [String: Tensor] {
    var result: [String: Tensor] = [:]
    for i in 0..<Int(set.count) {
      let t = set.tensors[i]
      guard t.dtype == DANLU_F32 else { continue }
      let shape = withUnsafeBytes(of: t.shape) { Array($0.bindMemory(to: Int64.self).prefix(Int(t.rank))).map(Int.init) }
      let count = shape.reduce(1, *)
      let data = Array(UnsafeBufferPointer(start: t.data.assumingMemoryBound(to: Float.self), count: count))
      result[String(cString: t.name)] = Tensor(shape: shape, data: data)
    }
    return result
  }

  /// Writes the set atomically (temporary file, then rename).
  public func write(to path: String) throws(DiagnosticError) {
    var error = [CChar](repeating: 0, count: 1024)
    if danlu_safetensors_write(path, set.tensors, set.count, &error, error.count) != 0 {
      throw DiagnosticError(.badTensorFile(path: path, problem: Self.message(error, dropping: path)), at: .unknown)
    }
  }

  static func message(_ buffer: [CChar], dropping prefix: String) -> String {
    let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return text.hasPrefix(prefix + ": ") ? String(text.dropFirst(prefix.count + 2)) : text
  }
}

/// `.npy` files through the C runtime.
public enum NPY {
  public static func read(_ path: String) throws(DiagnosticError) -> Tensor {
    var tensor = danlu_tensor()
    var error = [CChar](repeating: 0, count: 1024)
    if danlu_npy_read(path, &tensor, &error, error.count) != 0 {
      throw DiagnosticError(.badTensorFile(path: path, problem: WeightSet.message(error, dropping: path)), at: .unknown)
    }
    defer { danlu_tensor_free(&tensor) }
    let shape = withUnsafeBytes(of: tensor.shape) { Array($0.bindMemory(to: Int64.self).prefix(Int(tensor.rank))).map(Int.init) }
    let count = shape.reduce(1, *)
    let data = count == 0 ? [] : Array(UnsafeBufferPointer(start: tensor.data.assumingMemoryBound(to: Float.self), count: count))
    return Tensor(shape: shape, data: data)
  }

  public static func write(_ tensor: Tensor, to path: String) throws(DiagnosticError) {
    var error = [CChar](repeating: 0, count: 1024)
    let shape = tensor.shape.map(Int64.init)
    let status = tensor.data.withUnsafeBufferPointer { danlu_npy_write(path, $0.baseAddress, Int32(shape.count), shape, &error, error.count) }
    if status != 0 {
      throw DiagnosticError(.badTensorFile(path: path, problem: WeightSet.message(error, dropping: path)), at: .unknown)
    }
  }
}
