import DanluDriver
import DanluFrontend
import DanluIR
import DanluInterpreter
import DanluPasses
import DanluRuntime
import DanluCodegen
import DanluDiagnostics
import Foundation

/// Shared steps of the differential tests: build a model with bound dimensions, run it through the interpreter
/// and through generated C.
public enum Oracle {
  public static func graph(_ path: String, _ options: BuildOptions) throws -> (Model, Graph) {
    var loader = ModelLoader()
    let model = try loader.model(at: path, options: options)
    return (model, try Pipeline.bound(model))
  }

  public static func randomInputs(_ graph: Graph, seed: UInt64) -> [String: Tensor] {
    var inputs: [String: Tensor] = [:]
    for (i, value) in graph.inputs.enumerated() {
      inputs[graph.inputName(value)!] = Tensor.random(graph.nodes[value].type.staticShape!, seed: seed + UInt64(i))
    }
    return inputs
  }

  public static func interpret(_ graph: Graph, _ inputs: [String: Tensor], _ weights: [String: Tensor]) throws -> [String: Tensor] {
    try Interpreter.run(graph, inputs: inputs, weights: weights)
  }

  /// The default inference pipeline's pass names without `excluded`: for tests of what a later pass would replace.
  public static func inferenceWithout(_ excluded: String...) -> [String] {
    PassRegistry.inference.map(\.name).filter { !excluded.contains($0) }
  }

  /// A model written from `spec` to a temporary `NAME.yaml` and built: the graph, seeded weights (5) and inputs (6),
  /// and the interpreter's first output, for the tests of kernels that split their work between threads.
  public static func threadedCase(_ name: String, _ spec: String) throws
    -> (graph: Graph, weights: WeightSet, inputs: [String: Tensor], expected: Tensor)
  {
    let path = Repository.temporaryFolder().appendingPathComponent("\(name).yaml").path
    try spec.write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions())
    let weights = graph.initialWeights(model.initializers, seed: 5)
    let inputs = randomInputs(graph, seed: 6)
    guard let expected = try interpret(graph, inputs, weights).values.first else {
      throw DiagnosticError(.runtimeFailed("\(name) has no output"), at: .unknown)
    }
    return (graph, WeightSet(weights.map { ($0.key, $0.value) }), inputs, expected)
  }

  /// The register tiles the kernels are written for (`DANLU_REGISTER_FLOATS`: 16 floats with AVX-512, else 8). Tests
  /// compile both whatever this machine has: 16 without AVX-512 runs from the stack, slowly, with the same arithmetic.
  public static let registerFloats = [16, 8]

  /// Compiles generated C to a shared object for each register width and runs it in-process on one thread, then on
  /// two, then asking for two where OpenMP grants one: each run's label and outputs. Kernels that split their work
  /// between threads take the one-thread and the two-thread path, and must go by the team they are given.
  public static func onOneThreadAndTwo(_ source: String, _ name: String, _ inputs: [String: Tensor], _ weights: WeightSet)
    throws -> [(run: String, outputs: [String: Tensor])]
  {
    var runs: [(run: String, outputs: [String: Tensor])] = []
    for floats in registerFloats {
      try Commands.inProcess(source, name, defines: ["DANLU_REGISTER_FLOATS=\(floats)"]) { (model) throws(DiagnosticError) in
        for threads in [1, 2] {
          model.setThreads(threads)
          runs.append(("\(threads) thread(s), \(floats)-float registers", try model.run(inputs: inputs, weights: weights)))
        }
        // Two threads asked, one granted (as inside a caller's own parallel region): OpenMP's teams of one.
        if let (get, set) = activeLevels() {
          let before = get()
          set(0)
          defer { set(before) }
          runs.append(("2 threads asked, OpenMP granting 1, \(floats)-float registers",
                       try model.run(inputs: inputs, weights: weights)))
        }
      }
    }
    return runs
  }

  /// libgomp's `omp_get_max_active_levels` and `omp_set_max_active_levels`, once a loaded model has brought it in:
  /// at 0 levels every parallel region runs as a team of one, whatever its num_threads asks.
  static func activeLevels() -> (get: @convention(c) () -> Int32, set: @convention(c) (Int32) -> Void)? {
    guard let gomp = dlopen("libgomp.so.1", RTLD_NOW | RTLD_NOLOAD), let get = dlsym(gomp, "omp_get_max_active_levels"),
          let set = dlsym(gomp, "omp_set_max_active_levels") else { return nil }
    return (unsafeBitCast(get, to: (@convention(c) () -> Int32).self),
            unsafeBitCast(set, to: (@convention(c) (Int32) -> Void).self))
  }

  /// For a built model and the C emitted from it: seeded weights and random inputs, the interpreter's `output` on
  /// them, and the C's on one thread and two (`onOneThreadAndTwo`), for the test to compare.
  public static func againstInterpreter(_ model: Model, _ graph: Graph, source: String, name: String, output: String,
                                        seeds: (weights: UInt64, inputs: UInt64)) throws
    -> (expected: Tensor, runs: [(run: String, actual: Tensor)])
  {
    let weights = graph.initialWeights(model.initializers, seed: seeds.weights)
    let inputs = randomInputs(graph, seed: seeds.inputs)
    guard let expected = try interpret(graph, inputs, weights)[output] else {
      throw DiagnosticError(.runtimeFailed("\(name) has no output '\(output)'"), at: .unknown)
    }
    let set = WeightSet(weights.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    let runs = try onOneThreadAndTwo(source, name, inputs, set).map { run, outputs in
      guard let actual = outputs[output] else {
        throw DiagnosticError(.runtimeFailed("\(name)'s C has no output '\(output)'"), at: .unknown)
      }
      return (run, actual)
    }
    return (expected, runs)
  }

  /// Optimizes, emits C, compiles a shared object, runs it in-process.
  public static func compiled(_ graph: Graph, _ inputs: [String: Tensor], _ weights: WeightSet, passes: [String]? = nil)
    throws -> [String: Tensor]
  {
    let optimized = Pipeline.optimize(graph, passes: try Pipeline.passes(passes))
    let source = CEmitter.emit(optimized, source: "test")
    return try Commands.inProcess(source, graph.name) { (model) throws(DiagnosticError) in
      try model.run(inputs: inputs, weights: weights)
    }
  }
}

/// One ONNX Runtime golden case from Tests/Fixtures/goldens: the bound graph, weights, input and expected output.
public struct GoldenCase {
  public var graph: Graph
  public var weights: WeightSet
  public var input: Tensor
  /// Every input by name: x, and one NAME.npy per further input (a mask, a decoder's memory).
  public var inputs: [String: Tensor]
  public var expected: Tensor

  public init(_ name: String) throws {
    let folder = "Tests/Fixtures/goldens/\(name)/"
    graph = try Oracle.graph(Repository.path(folder + "model.yaml"), BuildOptions()).1
    weights = try WeightSet(contentsOf: Repository.path(folder + "weights.safetensors"))
    input = try NPY.read(Repository.path(folder + "x.npy"))
    expected = try NPY.read(Repository.path(folder + "y.npy"))
    inputs = ["x": input]
    for input in graph.inputs.compactMap({ graph.inputName($0) }) where inputs[input] == nil {
      inputs[input] = try NPY.read(Repository.path(folder + "\(input).npy"))
    }
  }
}
