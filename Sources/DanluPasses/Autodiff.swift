import DanluDiagnostics
import DanluIR

/// Reverse-mode automatic differentiation over the IR: the inference graph becomes a train-step graph that
/// computes the loss and every trainable parameter's gradient in one function, which then goes through the same
/// passes (fusion, memory planning) and code generator as inference.
///
///     inputs:  the model's inputs + `target` (class indices f32[N] for cross_entropy and nll, else the prediction's shape)
///     outputs: `loss` (f32[1]), the model's outputs, then `grad:NAME` for each trainable parameter NAME, then
///              `update:NAME` for each batch-norm running statistic (`TrainingMode`)
///
/// The forward graph is first put in training mode (`TrainingMode`: batch statistics, dropout masks, which adds the
/// input `dropout_seed` when the model has dropout).
///
/// The backward walk visits nodes in reverse, only those between a trainable parameter and the loss, applies each
/// op's rule from `VJPRules`, and sums the gradients of values with several users.
public enum Autodiff {
  public typealias Loss = DanluIR.Loss

  public static let gradientPrefix = TrainingOutputs.gradientPrefix
  public static let updatePrefix = TrainingMode.updatePrefix
  public static let seedInput = TrainingMode.seedInput

  /// - Parameters:
  ///   - prediction: the output the loss reads (default: the first).
  ///   - frozen: parameters that get no gradient (`trainable=false`, or a frozen body when fine-tuning a head).
  ///   - batchNormMomentum: momentum per running_mean buffer (PyTorch's 0.1 where absent).
  public static func trainingGraph(_ inference: Graph, prediction: String? = nil, loss: Loss, frozen: Set<String> = [],
                                   batchNormMomentum: [String: Float] = [:]) throws(DiagnosticError) -> Graph
  {
    let (graph, updates) = try TrainingMode.rewrite(inference, momentum: batchNormMomentum)
    guard let predicted = (prediction.map { p in graph.outputs.first { $0.name == p } } ?? graph.outputs.first) else {
      throw DiagnosticError(.badTraining("the model has no output named '\(prediction ?? "")' to train"), at: .unknown)
    }
    var result = graph
    let y = predicted.value
    let yType = graph.nodes[y].type
    let location = graph.nodes[y].location

    // The loss and its gradient with respect to the prediction: the seed of the backward walk.
    let targetType = try targetType(of: loss, prediction: yType, named: predicted.name, at: location)
    let target = result.addLeaf(.input("target"), type: targetType, name: "target", location: location)
    var (scores, labels) = (y, target)
    if yType.rank != targetType.rank + 1 || !loss.targetsAreClassIndices {
      // Elementwise losses, and class scores [N, C] with their labels [N]: as they are.
    } else if yType.rank > 2 {
      // Scores [N, …, C] with labels [N, …] (a language model's [N, S, vocabulary]): one row per position, the mean
      // over all of them, as PyTorch's cross_entropy on the flattened positions.
      let rows = targetType.elementCount, classes = yType.shape[yType.rank - 1]
      scores = try result.reshape(y, to: [rows, classes], name: "loss", location: location)
      labels = try result.reshape(target, to: [rows], name: "loss", location: location)
    }
    let lossValue = try result.add(.training(.loss(loss)), [scores, labels], name: "loss", location: location)
    var seed = try result.add(.training(.lossGrad(loss)), [scores, labels], name: "loss.grad", location: location)
    if scores != y { seed = try result.reshape(seed, to: yType.shape, name: "loss.grad", location: location) }

    // Which values lead to a trainable parameter: only their gradients are computed.
    var wanted = Array(repeating: false, count: graph.nodes.count)
    for (index, node) in graph.nodes.enumerated() {
      if case .parameter(let name) = node.op { wanted[index] = !frozen.contains(name) }
      // A dropout mask is a constant drawn from the seed; it reads its operand only for the shape.
      else if case .training(.dropoutMask) = node.op { wanted[index] = false }
      else { wanted[index] = node.operands.contains { wanted[$0] } }
    }
    // Which values the loss depends on.
    var reaches = Array(repeating: false, count: graph.nodes.count)
    reaches[y] = true
    for index in graph.nodes.indices.reversed() where reaches[index] {
      for operand in graph.nodes[index].operands { reaches[operand] = true }
    }

    var adjoint: [Int: Int] = [y: seed]
    for index in graph.nodes.indices.reversed() {
      guard reaches[index], wanted[index], let dy = adjoint[index] else { continue }
      let node = graph.nodes[index]
      if node.operands.isEmpty { continue }
      let grads = try VJPRules.gradients(of: index, dy: dy, wanted: node.operands.map { wanted[$0] }, in: &result)
      for (operand, grad) in zip(node.operands, grads) {
        guard wanted[operand], let grad else { continue }
        if let existing = adjoint[operand] {
          adjoint[operand] = try result.add(.add, [existing, grad], name: graph.nodes[operand].name + ".grad",
                                            location: graph.nodes[operand].location)
        } else {
          adjoint[operand] = grad
        }
      }
    }

    result.outputs = [GraphOutput(name: "loss", value: lossValue)] + graph.outputs
    for index in graph.parameters {
      guard case .parameter(let name) = graph.nodes[index].op, !frozen.contains(name) else { continue }
      // A parameter the loss does not reach (an unused head) gets a zero gradient, as PyTorch leaves it unchanged.
      let grad = adjoint[index] ?? result.addLeaf(.fill(0), type: graph.nodes[index].type, name: name + ".grad")
      result.outputs.append(GraphOutput(name: gradientPrefix + name, value: grad))
    }
    result.outputs += updates
    return result
  }

  /// Class indices `f32[N]` for cross_entropy and nll (the prediction must be `[N, classes]`), else the prediction's type.
  public static func targetType(of loss: Loss, prediction: TensorType, named name: String, at location: SourceLocation)
    throws(DiagnosticError) -> TensorType
  {
    guard loss.targetsAreClassIndices else { return prediction }
    guard prediction.rank >= 2 else {
      throw DiagnosticError(.badTraining("\(loss.name) needs scores of shape [N, classes] (or [N, …, classes]); output '\(name)' is \(prediction)"), at: location)
    }
    return TensorType(.f32, Array(prediction.shape.dropLast()))
  }
}
