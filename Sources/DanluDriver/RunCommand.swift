import DanluCodegen
import DanluDiagnostics
import DanluIR
import DanluInterpreter
import DanluRuntime
import Foundation

extension Commands {
  /// Pairs `[name=]path` arguments with names; bare paths take the names in order.
  static func bindFiles(_ items: [String], names: [String], kind: String) throws(DiagnosticError) -> [(String, String)] {
    var result: [(String, String)] = []
    var position = 0
    for item in items {
      let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
      if parts.count == 2, names.contains(parts[0]) {
        result.append((parts[0], parts[1]))
      } else if parts.count == 2, !parts[0].contains("/"), !parts[0].contains(".") {
        throw DiagnosticError(.runtimeFailed("the model has no \(kind) '\(parts[0])'; its \(kind)s are \(names.joined(separator: ", "))"),
                              at: .unknown)
      } else {
        guard position < names.count else {
          throw DiagnosticError(.runtimeFailed("more --\(kind) files than the model's \(kind)s (\(names.joined(separator: ", ")))"),
                                at: .unknown)
        }
        result.append((names[position], item))
        position += 1
      }
    }
    return result
  }

  /// `danlu run`: compiles to a shared object, dlopens it and runs once in-process (or through the reference
  /// interpreter with `interpret`). Returns one line per output: its name, shape and where it was written.
  public static func run(_ path: String, _ options: BuildOptions, weights file: String?, inputs: [String],
                         outputs: [String], interpret: Bool = false, seed: UInt64 = 0) throws(DriverFailure) -> String {
    let (model, graph, source, loader) = try generate(path, options)
    do throws(DiagnosticError) {
      let weightSet = try weights(file, model, graph, seed: seed)
      var inputTensors: [String: Tensor] = [:]
      let inputNames = graph.inputs.map { graph.inputName($0)! }
      for (name, file) in try bindFiles(inputs, names: inputNames, kind: "input") { inputTensors[name] = try NPY.read(file) }
      for name in inputNames where inputTensors[name] == nil {
        throw DiagnosticError(.runtimeFailed("missing --input for '\(name)' (\(graph.nodes[graph.inputs[inputNames.firstIndex(of: name)!]].type))"),
                              at: .unknown)
      }
      for value in graph.inputs {
        let name = graph.inputName(value)!, expected = graph.nodes[value].type.staticShape!
        if inputTensors[name]!.shape != expected {
          throw DiagnosticError(.inputShape(name: name, expected: "\(expected)", found: "\(inputTensors[name]!.shape)"), at: .unknown)
        }
      }
      let results: [String: Tensor]
      if interpret {
        do {
          results = try Interpreter.run(graph, inputs: inputTensors, weights: weightSet.tensors)
        } catch {
          throw DiagnosticError(.runtimeFailed("\(error)"), at: .unknown)
        }
      } else {
        results = try inProcess(source, graph.name) { (compiled) throws(DiagnosticError) in
          if let threads = options.threads { compiled.setThreads(threads) }
          return try compiled.run(inputs: inputTensors, weights: weightSet)
        }
      }
      var report = ""
      let outputNames = graph.outputs.map(\.name)
      for (name, file) in try bindFiles(outputs, names: outputNames, kind: "output") {
        try NPY.write(results[name]!, to: file)
        report += "\(name): \(results[name]!.shape) → \(file)\n"
      }
      if outputs.isEmpty {
        for name in outputNames { report += "\(name): \(results[name]!.shape) \(summary(results[name]!))\n" }
      }
      return report
    } catch {
      throw DriverFailure(loader.renderer.render(error))
    }
  }

  /// Compiles C source to a shared object in a temporary folder, loads it and hands it to `body`.
  public static func inProcess<T>(_ source: String, _ name: String, defines: [String] = [],
                                  _ body: (CompiledModel) throws(DiagnosticError) -> T) throws(DiagnosticError) -> T {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("danlu-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))")
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let library = folder.appendingPathComponent("\(name).so")
    try CCompiler.compile(source: source, cFile: folder.appendingPathComponent("\(name).c"), output: library, product: .sharedObject,
                             defines: defines)
    let spins = source.contains(CEmitter.spinWorkersCall)
    return try body(try CompiledModel(sharedObject: library.path, quietBlasWorkers: spins || source.contains(CEmitter.quietWorkersCall),
                                      spinOpenMP: spins))
  }

  /// A few leading values, for a quick look at an output written nowhere.
  static func summary(_ tensor: Tensor) -> String {
    let head = tensor.data.prefix(6).map { String(format: "%.5g", $0) }.joined(separator: ", ")
    return "[\(head)\(tensor.count > 6 ? ", …" : "")]"
  }
}
