import DanluDiagnostics
import DanluIR

/// The forward graph as PyTorch's `train()` mode computes it, the first step of `Autodiff.trainingGraph`:
///
/// - batch norm normalizes with the batch's own statistics, and the train step returns the new running statistics
///   as outputs `update:NAME` (running = (1 − momentum)·running + momentum·batch statistic, the variance unbiased by
///   n/(n − 1)), which the runtime copies over the buffers after each step;
/// - dropout multiplies by a mask drawn from a counter-based hash of the input `dropout_seed` (seed and step), so a
///   resumed run draws the masks an uninterrupted one would.
///
///     %5 = batch_norm(%4, %1, %2, %3, %6)     →    %7 = batch_mean(%4)
///                                                  %8 = batch_variance(%4, %7)
///                                                  %9 = batch_norm(%4, %1, %2, %7, %8)
///     %5 = dropout(%4) {p=0.5}                →    %6 = dropout_mask(%seed, %4) {p=0.5, salt=0}
///                                                  %7 = mul(%4, %6)
enum TrainingMode {
  static let seedInput = "dropout_seed"
  static let updatePrefix = TrainingOutputs.updatePrefix

  /// - Parameter momentum: per running_mean buffer name; PyTorch's 0.1 where absent.
  static func rewrite(_ graph: Graph, momentum: [String: Float]) throws(DiagnosticError) -> (graph: Graph, updates: [GraphOutput]) {
    var result = Graph(name: graph.name)
    var map = Array(repeating: -1, count: graph.nodes.count)
    var updates: [GraphOutput] = []
    var seed: Int?
    var salt = 0
    for (index, node) in graph.nodes.enumerated() {
      let operands = node.operands.map { map[$0] }
      let (name, location) = (node.name, node.location)
      switch node.op {
      case .batchNorm(let epsilon):
        guard let runningMean = graph.parameterName(node.operands[3]), let runningVar = graph.parameterName(node.operands[4]),
              let count = graph.nodes[node.operands[0]].type.staticShape.map({ $0.reduce(1, *) / $0[1] }) else {
          throw DiagnosticError(.noGradient(layer: name, op: "batch_norm", detail: "training needs running statistics stored "
            + "as buffers and every dimension bound"), at: location)
        }
        // PyTorch refuses too: one value per channel has no variance to normalize by.
        guard count > 1 else {
          throw DiagnosticError(.noGradient(layer: name, op: "batch_norm", detail: "training needs more than one value per "
            + "channel, got \(graph.nodes[node.operands[0]].type); use a larger batch"), at: location)
        }
        let mean = try result.add(.training(.batchMean), [operands[0]], name: name, location: location)
        let variance = try result.add(.training(.batchVariance), [operands[0], mean], name: name, location: location)
        map[index] = try result.add(.batchNorm(epsilon: epsilon), [operands[0], operands[1], operands[2], mean, variance],
                                    name: name, location: location)
        let m = momentum[runningMean] ?? 0.1
        // PyTorch updates running_var with the unbiased variance.
        let unbias = Float(count) / Float(count - 1)
        for (buffer, statistic, factor) in [(runningMean, mean, Float(1)), (runningVar, variance, unbias)] {
          let old = operands[buffer == runningMean ? 3 : 4]
          let type = result.nodes[old].type
          let keep = result.addLeaf(.fill(1 - m), type: type, name: name, location: location)
          let take = result.addLeaf(.fill(m * factor), type: type, name: name, location: location)
          let kept = try result.add(.mul, [old, keep], name: name, location: location)
          let taken = try result.add(.mul, [statistic, take], name: name, location: location)
          updates.append(GraphOutput(name: updatePrefix + buffer, value: try result.add(.add, [kept, taken], name: name, location: location)))
        }
      case .dropout(let p):
        let seedValue = seed ?? result.addLeaf(.input(seedInput), type: TensorType(.f32, [.int(3)]), name: seedInput)
        seed = seedValue
        let mask = try result.add(.training(.dropoutMask(p: p, salt: salt)), [seedValue, operands[0]], name: name, location: location)
        salt += 1
        map[index] = try result.add(.mul, [operands[0], mask], name: name, location: location)
      default:
        var copy = node
        copy.operands = operands
        result.nodes.append(copy)
        map[index] = result.nodes.count - 1
      }
    }
    result.outputs = graph.outputs.map { GraphOutput(name: $0.name, value: map[$0.value]) }
    return (result, updates)
  }
}
