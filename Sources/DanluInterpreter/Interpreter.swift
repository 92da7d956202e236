import DanluIR
import Foundation

/// The naive reference executor: the oracle every compiled path is checked against. Each op is written in the
/// most direct way, with `Double` accumulation, and shares no code with codegen.
public enum Interpreter {
  public struct Failure: Error, CustomStringConvertible {
    public var description: String
  }

  /// Runs a graph whose shapes are all static, in float32. Inputs and weights are looked up by name.
  public static func run(_ graph: Graph, inputs: [String: Tensor], weights: [String: Tensor]) throws -> [String: Tensor] {
    try execute(graph, inputs, weights)
  }

  /// The same in float64, for finite differences.
  public static func runInFloat64(_ graph: Graph, inputs: [String: Values<Double>], weights: [String: Values<Double>]) throws
    -> [String: Values<Double>]
  {
    try execute(graph, inputs, weights)
  }

  static func execute<T>(_ graph: Graph, _ inputs: [String: Values<T>], _ weights: [String: Values<T>]) throws -> [String: Values<T>] {
    var values: [Values<T>?] = Array(repeating: nil, count: graph.nodes.count)
    let users = graph.users()
    var remainingUses = users.map(\.count)
    for output in graph.outputs { remainingUses[output.value] += 1 }

    for (index, node) in graph.nodes.enumerated() {
      guard let shape = node.type.staticShape else {
        throw Failure(description: "node \(index) ('\(node.name)') has a symbolic shape \(node.type); bind every dimension")
      }
      let operands = node.operands.map { values[$0]! }
      let result: Values<T>
      switch node.op {
      case .input(let name):
        guard let tensor = inputs[name] else { throw Failure(description: "missing input '\(name)'") }
        guard tensor.shape == shape else { throw Failure(description: "input '\(name)' has shape \(tensor.shape), expected \(shape)") }
        result = tensor
      case .parameter(let name), .buffer(let name):
        guard let tensor = weights[name] else { throw Failure(description: "missing weight '\(name)'") }
        guard tensor.shape == shape else { throw Failure(description: "weight '\(name)' has shape \(tensor.shape), expected \(shape)") }
        result = tensor
      default:
        result = Values(shape: shape, data: Kernels<T>.evaluate(node.op, operands, outputShape: shape))
      }
      values[index] = result
      // Free what no later node reads, so large models fit.
      for operand in node.operands {
        remainingUses[operand] -= 1
        if remainingUses[operand] == 0 { values[operand] = nil }
      }
    }
    var outputs: [String: Values<T>] = [:]
    for output in graph.outputs { outputs[output.name] = values[output.value] }
    return outputs
  }

  /// A loss and its gradient with respect to the prediction, from PyTorch's definitions (what `danlu eval` reports).
  public static func loss(_ l: Loss, _ prediction: Tensor, _ target: Tensor) -> (value: Double, gradient: [Float]) {
    TrainingKernels<Float>.loss(l, prediction, target)
  }
}
