import CDanluRuntime
import DanluDiagnostics
import DanluIR
import Foundation

/// A compiled train-step function (from `Autodiff.trainingGraph`) with its parameters and optimizer state in
/// host memory: `step` runs forward and backward in generated code, then updates every parameter in place.
public final class TrainStep: @unchecked Sendable {
  public struct Optimizer: Sendable {
    public var kind: danlu_optimizer_kind
    public var lr: Float
    public var weightDecay: Float = 0
    public var momentum: Float = 0
    public var nesterov = false
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    /// Clip gradients to this global L2 norm (`g ← min(1, θ/‖g‖)·g`), as `clip_grad_norm_`.
    public var clipNorm: Float?

    public init(kind: danlu_optimizer_kind, lr: Float) {
      self.kind = kind
      self.lr = lr
    }
  }

  let compiled: CompiledModel
  /// The learning rate may change between steps; the kind of state the optimizer keeps may not (it is allocated once).
  public var optimizer: Optimizer {
    didSet { precondition(Self.stateTensors(optimizer) <= Self.stateTensors(oldValue), "the optimizer's state is allocated once") }
  }
  /// Updates taken so far (Adam's bias correction counts from 1).
  public private(set) var steps = 0
  let names: [String]
  let shapes: [[Int]]
  let params: [UnsafeMutablePointer<Float>]
  let firstMoment: [UnsafeMutablePointer<Float>]
  let secondMoment: [UnsafeMutablePointer<Float>]
  let inputs: [UnsafeMutablePointer<Float>]
  let inputShapes: [[Int]]
  let outputs: [UnsafeMutablePointer<Float>]
  let outputShapes: [[Int]]
  /// For each parameter, the output holding its gradient (nil when frozen).
  let gradientOutput: [Int?]
  /// (parameter, output) pairs: batch-norm running statistics the step recomputes (`update:NAME`).
  let updates: [(parameter: Int, output: Int)]
  let usesGeneratedUpdate: Bool
  /// Outputs `forward` need not copy out because the generated update reads them in the arena.
  let skippedOutputs: Set<Int>
  /// Dropout masks are drawn from (seed, step); the input `dropout_seed` carries both when the model has dropout.
  public var seed: UInt64 = 0
  /// Found once: the `dropout_seed` input (nil without dropout) and the `loss` output.
  let seedInput: Int?
  let lossOutput: Int
  let arena: UnsafeMutableRawPointer

  /// - Parameter generatedUpdate: update in the generated code where the model has it (false: in the C runtime, from
  ///   gradients copied out of the arena; tests compare the two).
  public init(_ compiled: CompiledModel, weights: [String: Tensor], optimizer: Optimizer, generatedUpdate: Bool = true)
    throws(DiagnosticError)
  {
    self.compiled = compiled
    self.optimizer = optimizer
    let m = compiled.model.pointee
    names = (0..<Int(m.num_params)).map { String(cString: m.params[$0].name) }
    shapes = (0..<Int(m.num_params)).map { CompiledModel.shape(m.params[$0]) }
    for (name, shape) in zip(names, shapes) {
      guard let tensor = weights[name] else { throw DiagnosticError(.weightsMismatch("missing '\(name)' \(shape)"), at: .unknown) }
      guard tensor.shape == shape else {
        throw DiagnosticError(.weightsMismatch("'\(name)' has shape \(tensor.shape), the model expects \(shape)"), at: .unknown)
      }
    }
    func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
      let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(1, count))
      pointer.initialize(repeating: 0, count: max(1, count))
      return pointer
    }
    params = zip(names, shapes).map { name, shape in
      let pointer = buffer(shape.reduce(1, *))
      weights[name]!.data.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: $0.count) }
      return pointer
    }
    // Only the state the optimizer keeps: Adam's m and v, SGD's momentum buffer, plain SGD none.
    let state = Self.stateTensors(optimizer)
    firstMoment = shapes.map { buffer(state >= 1 ? $0.reduce(1, *) : 0) }
    secondMoment = shapes.map { buffer(state >= 2 ? $0.reduce(1, *) : 0) }
    inputShapes = (0..<Int(m.num_inputs)).map { CompiledModel.shape(m.inputs[$0]) }
    inputs = inputShapes.map { buffer($0.reduce(1, *)) }
    outputShapes = (0..<Int(m.num_outputs)).map { CompiledModel.shape(m.outputs[$0]) }
    let outputNames = compiled.outputNames
    guard let loss = outputNames.firstIndex(of: "loss") else { preconditionFailure("a train step has a loss output") }
    (seedInput, lossOutput) = (compiled.inputNames.firstIndex(of: "dropout_seed"), loss)
    let gradients = names.map { outputNames.firstIndex(of: TrainingOutputs.gradientPrefix + $0) }
    let updated = names.indices.compactMap { [names] p in outputNames.firstIndex(of: TrainingOutputs.updatePrefix + names[p]).map { (p, $0) } }
    usesGeneratedUpdate = generatedUpdate && m.apply_update != nil
    let skipped = usesGeneratedUpdate ? Set(gradients.compactMap { $0 } + updated.map(\.1)) : []
    (gradientOutput, updates, skippedOutputs) = (gradients, updated, skipped)
    outputs = outputShapes.indices.map { [outputShapes] in buffer(skipped.contains($0) ? 0 : outputShapes[$0].reduce(1, *)) }
    arena = UnsafeMutableRawPointer.allocate(byteCount: Int(m.arena_floats) * 4 + 64, alignment: 64)
  }

  /// How many tensors of state per parameter an optimizer keeps.
  static func stateTensors(_ o: Optimizer) -> Int { o.kind != DANLU_SGD ? 2 : o.momentum != 0 ? 1 : 0 }

  /// Bytes held for a train step: the arena (activations, gradients while they are live, scratch), the parameters and
  /// buffers, the outputs copied out of it (loss and prediction; gradients and running statistics too when the update
  /// runs in the C runtime) and the optimizer state.
  public var memory: (arena: Int, weights: Int, outputs: Int, optimizer: Int) {
    let trainable = zip(shapes, gradientOutput).filter { $0.1 != nil }.reduce(0) { $0 + $1.0.reduce(1, *) }
    return (Int(compiled.model.pointee.arena_floats) * 4, shapes.reduce(0) { $0 + $1.reduce(1, *) } * 4,
            outputShapes.indices.filter { !skippedOutputs.contains($0) }.reduce(0) { $0 + outputShapes[$1].reduce(1, *) } * 4,
            trainable * Self.stateTensors(optimizer) * 4)
  }

  /// `train step memory: arena=B weights=B outputs=B optimizer=B total=B` (bytes), as `danlu train` and
  /// `bench --train` print it.
  public var memorySummary: String {
    let m = memory
    return "train step memory: arena=\(m.arena) weights=\(m.weights) outputs=\(m.outputs) optimizer=\(m.optimizer) "
      + "total=\(m.arena + m.weights + m.outputs + m.optimizer)"
  }

  deinit {
    for list in [params, firstMoment, secondMoment, inputs, outputs] { list.forEach { $0.deallocate() } }
    arena.deallocate()
  }

  /// The shape the train step expects for an input (`x`, `target`).
  public func inputShape(_ name: String) -> [Int]? { compiled.inputNames.firstIndex(of: name).map { inputShapes[$0] } }

  /// The shape of an output by position (0 is `loss`, 1 the model's first output).
  public func outputShape(at index: Int) -> [Int]? { outputShapes.indices.contains(index) ? outputShapes[index] : nil }

  /// Writes an input before `step`.
  public func setInput(_ name: String, _ fill: (UnsafeMutableBufferPointer<Float>) -> Void) {
    guard let i = compiled.inputNames.firstIndex(of: name) else { preconditionFailure("no input '\(name)'") }
    fill(UnsafeMutableBufferPointer(start: inputs[i], count: inputShapes[i].reduce(1, *)))
  }

  /// Forward, backward and one optimizer update; returns the loss, or nil when it is not finite (no update then).
  public func step() -> Float? {
    if let seedInput {
      let values = DropoutHash.seedInput(seed: seed, step: steps)
      for i in 0..<3 { inputs[seedInput][i] = values[i] }
    }
    run()
    let loss = outputs[lossOutput][0]
    guard loss.isFinite else { return nil }
    let m = compiled.model.pointee
    let arenaFloats = UnsafePointer(arena.assumingMemoryBound(to: Float.self))
    var scale: Float = 1
    if let clip = optimizer.clipNorm {
      var total = 0.0
      if usesGeneratedUpdate, let sumSquares = m.grad_sum_squares {
        total = sumSquares(arenaFloats)
      } else {
        for (p, g) in gradientOutput.enumerated() { if let g { total += danlu_sum_squares(outputs[g], Int64(shapes[p].reduce(1, *))) } }
      }
      let norm = Float(total.squareRoot())
      if norm > clip { scale = clip / (norm + 1e-6) }
    }
    steps += 1
    var settings = danlu_optimizer(kind: optimizer.kind, lr: optimizer.lr, weight_decay: optimizer.weightDecay,
                                   momentum: optimizer.momentum, nesterov: optimizer.nesterov ? 1 : 0,
                                   beta1: optimizer.beta1, beta2: optimizer.beta2, eps: optimizer.eps)
    if usesGeneratedUpdate, let update = m.apply_update {
      // Generated code updates every parameter from its gradient where forward left it (and copies the running
      // statistics): no copy of the gradients out of the arena.
      params.map { Optional($0) }.withUnsafeBufferPointer { p in
        firstMoment.map { Optional($0) }.withUnsafeBufferPointer { first in
          secondMoment.map { Optional($0) }.withUnsafeBufferPointer { second in
            update(p.baseAddress, first.baseAddress, second.baseAddress, &settings, Int64(steps), scale, arenaFloats)
          }
        }
      }
      return loss
    }
    for (p, o) in updates { params[p].update(from: outputs[o], count: shapes[p].reduce(1, *)) }
    for (p, g) in gradientOutput.enumerated() {
      guard let g else { continue }
      danlu_optimizer_step(&settings, params[p], outputs[g], firstMoment[p], secondMoment[p], Int64(shapes[p].reduce(1, *)),
                           Int64(steps), scale)
    }
    return loss
  }

  /// Forward and backward only (the benchmark's unit, and what `step` starts with).
  public func run() {
    let m = compiled.model.pointee
    let paramPointers = params.map { Optional(UnsafePointer($0)) }
    let inputPointers = inputs.map { Optional(UnsafePointer($0)) }
    // With a generated update, gradients and running statistics stay in the arena (NULL: not copied out).
    let outputPointers = outputs.indices.map { skippedOutputs.contains($0) ? nil : Optional(outputs[$0]) }
    let floats = arena.assumingMemoryBound(to: Float.self)
    paramPointers.withUnsafeBufferPointer { p in
      // Parameters change every step: what is computed from them alone is recomputed too.
      m.prepare(p.baseAddress, floats)
      inputPointers.withUnsafeBufferPointer { i in
        outputPointers.withUnsafeBufferPointer { o in m.forward(p.baseAddress, i.baseAddress, o.baseAddress, floats) }
      }
    }
  }

  /// An output of the last run (the model's prediction, for accuracy); nil for gradients the update read in place.
  public func output(_ name: String) -> Tensor? {
    guard let i = compiled.outputNames.firstIndex(of: name), !skippedOutputs.contains(i) else { return nil }
    return Self.tensor(outputs[i], outputShapes[i])
  }

  public var weights: [String: Tensor] {
    Dictionary(uniqueKeysWithValues: names.indices.map { (names[$0], Self.tensor(params[$0], shapes[$0])) })
  }

  /// A copy of a host buffer as a tensor.
  static func tensor(_ pointer: UnsafeMutablePointer<Float>, _ shape: [Int]) -> Tensor {
    Tensor(shape: shape, data: Array(UnsafeBufferPointer(start: pointer, count: shape.reduce(1, *))))
  }

  // MARK: Checkpoints

  /// Model weights under their own names (what `danlu run` and compiled binaries load), optimizer state under
  /// `optimizer.m.NAME` / `optimizer.v.NAME`, and `trainer.step` / `trainer.epoch`, written atomically.
  public func saveCheckpoint(to path: String, epoch: Int, extra: [String: Tensor] = [:]) throws(DiagnosticError) {
    var entries: [(name: String, tensor: Tensor)] = []
    for (i, name) in names.enumerated() {
      entries.append((name, Self.tensor(params[i], shapes[i])))
      guard gradientOutput[i] != nil else { continue }
      let state = Self.stateTensors(optimizer)
      if state >= 1 { entries.append(("optimizer.m." + name, Self.tensor(firstMoment[i], shapes[i]))) }
      if state >= 2 { entries.append(("optimizer.v." + name, Self.tensor(secondMoment[i], shapes[i]))) }
    }
    // Counts as float32 are exact up to 2²⁴; the step is split so that long runs stay exact.
    entries.append(("trainer.step", Tensor(shape: [2], data: [Float(steps / 1_000_000), Float(steps % 1_000_000)])))
    entries.append(("trainer.epoch", Tensor(shape: [1], data: [Float(epoch)])))
    for (name, tensor) in extra.sorted(by: { $0.key < $1.key }) { entries.append((name, tensor)) }
    try WeightSet(entries).write(to: path)
  }

  /// Restores parameters, optimizer state and the step count; returns the epochs already completed.
  public func loadCheckpoint(_ tensors: [String: Tensor]) throws(DiagnosticError) -> Int {
    for (i, name) in names.enumerated() {
      let count = shapes[i].reduce(1, *)
      func restore(_ key: String, into pointer: UnsafeMutablePointer<Float>, required: Bool) throws(DiagnosticError) {
        guard let tensor = tensors[key] else {
          if required { throw DiagnosticError(.weightsMismatch("the checkpoint has no '\(key)'"), at: .unknown) }
          return
        }
        guard tensor.count == count else {
          throw DiagnosticError(.weightsMismatch("'\(key)' has shape \(tensor.shape), the model expects \(shapes[i])"), at: .unknown)
        }
        tensor.data.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
      }
      try restore(name, into: params[i], required: true)
      let state = Self.stateTensors(optimizer)
      if state >= 1 { try restore("optimizer.m." + name, into: firstMoment[i], required: false) }
      if state >= 2 { try restore("optimizer.v." + name, into: secondMoment[i], required: false) }
    }
    if let step = tensors["trainer.step"], step.count == 2 { steps = Int(step.data[0]) * 1_000_000 + Int(step.data[1]) }
    return tensors["trainer.epoch"].map { Int($0.data[0]) } ?? 0
  }
}
