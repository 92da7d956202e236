import DanluCodegen
import DanluDiagnostics
import DanluFrontend
import DanluIR
import DanluRuntime
import Foundation

extension Commands {
  /// Everything between a model file and generated C: build, bind dimensions, optimize, emit.
  static func generate(_ path: String, _ options: BuildOptions) throws(DriverFailure) -> (Model, Graph, String, ModelLoader) {
    try generate(path, options) { graph in CEmitter.emit(graph, source: path, defaultThreads: options.threads ?? 0) }
  }

  /// Build, bind dimensions, optimize, then `emit` (C or CUDA).
  static func generate(_ path: String, _ options: BuildOptions, emit: (Graph) throws(DiagnosticError) -> String)
    throws(DriverFailure) -> (Model, Graph, String, ModelLoader)
  {
    let (model, loader) = try load(path, options)
    do throws(DiagnosticError) {
      let graph = Pipeline.optimize(try Pipeline.bound(model), passes: try Pipeline.passes(options.passes),
                                    timePasses: options.timePasses)
      return (model, graph, try emit(graph), loader)
    } catch {
      throw DriverFailure(loader.renderer.render(error))
    }
  }

  /// The weights to run with: a file, checked against the graph, or the model's seeded initializers.
  static func weights(_ file: String?, _ model: Model, _ graph: Graph, seed: UInt64) throws(DiagnosticError) -> WeightSet {
    if let file {
      let set = try WeightSet(contentsOf: file)
      try set.check(against: graph)
      return set
    }
    let bytes = graph.parameters.reduce(0) { $0 + graph.nodes[$1].type.staticShape!.reduce(4, *) }
    guard UInt64(bytes) < ProcessInfo.processInfo.physicalMemory / 2 else {
      throw DiagnosticError(.runtimeFailed("the model's weights need \(bytes >> 20) MiB, more than half of this machine's memory"),
                            at: .unknown)
    }
    let initial = graph.initialWeights(model.initializers, seed: seed)
    return WeightSet(graph.parameters.map { (graph.parameterName($0)!, initial[graph.parameterName($0)!]!) })
  }

  /// `danlu compile`: writes `OUT` (a standalone executable), `OUT.c`, and `OUT.safetensors` (the given weights, or
  /// seeded initial ones), so `OUT --input x.npy --output y.npy` runs with no further arguments.
  public static func compile(_ path: String, _ options: BuildOptions, output: String, weights file: String?,
                             seed: UInt64 = 0) throws(DriverFailure) -> String {
    let (model, graph, source, loader) = try generate(path, options)
    let outputURL = URL(fileURLWithPath: output)
    do throws(DiagnosticError) {
      let weightSet = try weights(file, model, graph, seed: seed)
      try CCompiler.compile(source: source, cFile: URL(fileURLWithPath: output + ".c"), output: outputURL, product: .executable)
      try weightSet.write(to: output + ".safetensors")
    } catch {
      throw DriverFailure(loader.renderer.render(error))
    }
    let inputs = graph.inputs.map { "\(graph.inputName($0)!): \(graph.nodes[$0].type)" }.joined(separator: ", ")
    let outputs = graph.outputs.map { "\($0.name): \(graph.nodes[$0.value].type)" }.joined(separator: ", ")
    return "compiled \(graph.name) → \(output) (C source \(output).c, weights \(output).safetensors)\n"
      + "inputs: \(inputs)\noutputs: \(outputs)\n" + (graph.memoryPlan.map { $0.summary + "\n" } ?? "")
  }
}
