import CDanluRuntime
import DanluDiagnostics
import DanluIR
import Foundation

/// A generated shared object, dlopened in-process: `danlu run` without a separate binary.
public final class CompiledModel: @unchecked Sendable {
  let handle: UnsafeMutableRawPointer
  let model: UnsafePointer<danlu_model>

  public init(sharedObject path: String) throws(DiagnosticError) {
    guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
      throw DiagnosticError(.runtimeFailed("cannot load \(path): \(String(cString: dlerror()))"), at: .unknown)
    }
    guard let symbol = dlsym(handle, "danlu_entry") else {
      dlclose(handle)
      throw DiagnosticError(.runtimeFailed("\(path) is not a Danlu model (no danlu_entry)"), at: .unknown)
    }
    self.handle = handle
    self.model = symbol.assumingMemoryBound(to: UnsafePointer<danlu_model>.self).pointee
  }

  deinit { dlclose(handle) }

  public var inputNames: [String] { (0..<Int(model.pointee.num_inputs)).map { String(cString: model.pointee.inputs[$0].name) } }
  public var outputNames: [String] { (0..<Int(model.pointee.num_outputs)).map { String(cString: model.pointee.outputs[$0].name) } }

  static func shape(_ info: danlu_tensor_info) -> [Int] { (0..<Int(info.rank)).map { Int(info.shape[$0]) } }

  /// Runs once. Inputs are matched by name and shape; weights through the C runtime's binding check.
  public func run(inputs: [String: Tensor], weights: WeightSet) throws(DiagnosticError) -> [String: Tensor] {
    let m = model.pointee
    var error = [CChar](repeating: 0, count: 8192)
    var params = [UnsafePointer<Float>?](repeating: nil, count: Int(m.num_params) + 1)
    if danlu_bind_weights(model, &weights.set, &params, &error, error.count) != 0 {
      throw DiagnosticError(.weightsMismatch(WeightSet.message(error, dropping: "")), at: .unknown)
    }
    var inputBuffers: [UnsafeMutablePointer<Float>] = []
    defer { inputBuffers.forEach { $0.deallocate() } }
    for i in 0..<Int(m.num_inputs) {
      let info = m.inputs[i]
      let name = String(cString: info.name)
      guard let tensor = inputs[name] else {
        throw DiagnosticError(.runtimeFailed("missing input '\(name)'; the model's inputs are \(inputNames.joined(separator: ", "))"), at: .unknown)
      }
      let expected = Self.shape(info)
      guard tensor.shape == expected else {
        throw DiagnosticError(.inputShape(name: name, expected: "\(expected)", found: "\(tensor.shape)"), at: .unknown)
      }
      let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(1, tensor.count))
      tensor.data.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: tensor.count) }
      inputBuffers.append(buffer)
    }
    let outputShapes = (0..<Int(m.num_outputs)).map { Self.shape(m.outputs[$0]) }
    let outputBuffers = outputShapes.map { UnsafeMutablePointer<Float>.allocate(capacity: max(1, $0.reduce(1, *))) }
    defer { outputBuffers.forEach { $0.deallocate() } }
    let arena = UnsafeMutableRawPointer.allocate(byteCount: Int(m.arena_floats) * 4 + 64, alignment: 64)
    defer { arena.deallocate() }

    let inputPointers = inputBuffers.map { UnsafePointer<Float>?(UnsafePointer($0)) }
    let outputPointers = outputBuffers.map { Optional($0) }
    params.withUnsafeBufferPointer { p in
      inputPointers.withUnsafeBufferPointer { i in
        outputPointers.withUnsafeBufferPointer { o in
          m.forward(p.baseAddress, i.baseAddress, o.baseAddress, arena.assumingMemoryBound(to: Float.self))
        }
      }
    }
    var results: [String: Tensor] = [:]
    for (i, shape) in outputShapes.enumerated() {
      results[outputNames[i]] = Tensor(shape: shape, data: Array(UnsafeBufferPointer(start: outputBuffers[i], count: shape.reduce(1, *))))
    }
    return results
  }
}
