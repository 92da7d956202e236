import CDanluRuntime
import DanluDiagnostics
import DanluIR
import Foundation

/// A generated shared object, dlopened in-process: `danlu run` and `danlu bench` without a separate binary.
public final class CompiledModel: @unchecked Sendable {
  let handle: UnsafeMutableRawPointer
  let model: UnsafePointer<danlu_model>

  /// OpenBLAS chooses its kernels when the first model loads it; make sure it takes the ones this CPU calls for.
  static let blasCore: Void = { _ = danlu_prefer_blas_core() }()
  /// And lets its idle workers sleep at once when that model runs threads of its own (`danlu_quiet_blas_workers`).
  static let quietWorkers: Void = { _ = danlu_quiet_blas_workers() }()
  /// Or lets OpenMP's spin briefly between regions when its threaded work is OpenMP regions (`danlu_spin_omp_workers`).
  static let spinningWorkers: Void = { _ = danlu_spin_omp_workers() }()
  /// A model's OpenMP threads (libgomp's pool) outlive its kernels: were libgomp unloaded with the model's shared
  /// object, they would run unmapped code (a crash at dlclose, seen in the tests). It stays loaded for the process.
  static let openMP: Void = { _ = dlopen("libgomp.so.1", RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE) }()

  /// - Parameters:
  ///   - quietBlasWorkers: the model runs threads of its own; it matters only while OpenBLAS is not loaded yet.
  ///   - spinOpenMP: and those are OpenMP regions, whose idle thread should spin briefly (first model loaded only).
  public init(sharedObject path: String, quietBlasWorkers: Bool = false, spinOpenMP: Bool = false) throws(DiagnosticError) {
    if quietBlasWorkers { _ = spinOpenMP ? Self.spinningWorkers : Self.quietWorkers }
    _ = Self.blasCore
    _ = Self.openMP
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

  public func setThreads(_ threads: Int) { model.pointee.set_threads(Int32(threads)) }

  /// Runs once. Inputs are matched by name and shape; weights through the C runtime's binding check.
  public func run(inputs: [String: Tensor], weights: WeightSet) throws(DiagnosticError) -> [String: Tensor] {
    let session = try Session(self, inputs: inputs, weights: weights)
    session.forward()
    return session.outputs
  }

  /// Per-kernel layer paths, FLOPs and accumulated milliseconds (zero unless built with DANLU_PROFILE).
  public var profile: [(name: String, flops: Int, milliseconds: Double)] {
    let m = model.pointee
    return (0..<Int(m.num_kernels)).map { i in
      (String(cString: m.kernel_names[i]!), Int(m.kernel_flops[i]), m.profile_ms.map { $0[i] } ?? 0)
    }
  }
}

/// Weights bound, inputs copied and buffers allocated once, so that `forward` can be timed alone.
public final class Session: @unchecked Sendable {
  let compiled: CompiledModel
  var params: [UnsafePointer<Float>?]
  let inputBuffers: [UnsafeMutablePointer<Float>]
  let outputBuffers: [UnsafeMutablePointer<Float>]
  let outputShapes: [[Int]]
  let arena: UnsafeMutableRawPointer
  let weights: WeightSet  // keeps the bound tensors alive

  public init(_ compiled: CompiledModel, inputs: [String: Tensor], weights: WeightSet) throws(DiagnosticError) {
    let m = compiled.model.pointee
    self.compiled = compiled
    self.weights = weights
    var error = [CChar](repeating: 0, count: 8192)
    params = [UnsafePointer<Float>?](repeating: nil, count: Int(m.num_params) + 1)
    if danlu_bind_weights(compiled.model, &weights.set, &params, &error, error.count) != 0 {
      throw DiagnosticError(.weightsMismatch(WeightSet.message(error, dropping: "")), at: .unknown)
    }
    inputBuffers = (0..<Int(m.num_inputs)).map {
      UnsafeMutablePointer<Float>.allocate(capacity: max(1, CompiledModel.shape(m.inputs[$0]).reduce(1, *)))
    }
    outputShapes = (0..<Int(m.num_outputs)).map { CompiledModel.shape(m.outputs[$0]) }
    outputBuffers = outputShapes.map { UnsafeMutablePointer<Float>.allocate(capacity: max(1, $0.reduce(1, *))) }
    arena = UnsafeMutableRawPointer.allocate(byteCount: Int(m.arena_floats) * 4 + 64, alignment: 64)
    params.withUnsafeBufferPointer { m.prepare($0.baseAddress, arena.assumingMemoryBound(to: Float.self)) }
    for name in compiled.inputNames {
      guard let tensor = inputs[name] else {
        throw DiagnosticError(.runtimeFailed("missing input '\(name)'; the model's inputs are \(compiled.inputNames.joined(separator: ", "))"), at: .unknown)
      }
      try setInput(name, tensor)
    }
  }

  /// Replaces an input's values, so that one bound session serves many batches (evaluation over a data set).
  public func setInput(_ name: String, _ tensor: Tensor) throws(DiagnosticError) {
    guard let i = compiled.inputNames.firstIndex(of: name) else {
      throw DiagnosticError(.runtimeFailed("no input '\(name)'; the model's inputs are \(compiled.inputNames.joined(separator: ", "))"), at: .unknown)
    }
    let expected = CompiledModel.shape(compiled.model.pointee.inputs[i])
    guard tensor.shape == expected else {
      throw DiagnosticError(.inputShape(name: name, expected: "\(expected)", found: "\(tensor.shape)"), at: .unknown)
    }
    tensor.data.withUnsafeBufferPointer { inputBuffers[i].update(from: $0.baseAddress!, count: tensor.count) }
  }

  deinit {
    inputBuffers.forEach { $0.deallocate() }
    outputBuffers.forEach { $0.deallocate() }
    arena.deallocate()
  }

  public func forward() {
    let inputPointers = inputBuffers.map { UnsafePointer<Float>?(UnsafePointer($0)) }
    let outputPointers = outputBuffers.map { Optional($0) }
    params.withUnsafeBufferPointer { p in
      inputPointers.withUnsafeBufferPointer { i in
        outputPointers.withUnsafeBufferPointer { o in
          compiled.model.pointee.forward(p.baseAddress, i.baseAddress, o.baseAddress, arena.assumingMemoryBound(to: Float.self))
        }
      }
    }
  }

  public var outputs: [String: Tensor] {
    var results: [String: Tensor] = [:]
    for (i, shape) in outputShapes.enumerated() {
      results[compiled.outputNames[i]] = Tensor(shape: shape, data: Array(UnsafeBufferPointer(start: outputBuffers[i], count: shape.reduce(1, *))))
    }
    return results
  }
}
