import DanluIR

/// `dce`: removes every node no output depends on, renumbering the rest in order.
///
///     %2 = relu(%0) : f32[1,4]  # unused          (removed)
///     %3 = sigmoid(%0) : f32[1,4]  # y      →      %2 = sigmoid(%0) : f32[1,4]  # y
///     output y = %3                                output y = %2
///
/// Inputs are kept even when unused: they are the function's signature.
public let deadCodeElimination = Pass(name: "dce", summary: "remove nodes that no output depends on") { graph in
  var live = Array(repeating: false, count: graph.nodes.count)
  for output in graph.outputs { live[output.value] = true }
  for index in graph.nodes.indices.reversed() where live[index] {
    for operand in graph.nodes[index].operands { live[operand] = true }
  }
  for index in graph.inputs { live[index] = true }
  return graph.keeping(live)
}

extension Graph {
  /// The graph restricted to the nodes marked true, operands and outputs renumbered.
  func keeping(_ keep: [Bool]) -> Graph {
    var result = Graph(name: name)
    var newIndex = Array(repeating: -1, count: nodes.count)
    for (index, node) in nodes.enumerated() where keep[index] {
      var copy = node
      copy.operands = node.operands.map { newIndex[$0] }
      newIndex[index] = result.nodes.count
      result.nodes.append(copy)
    }
    result.outputs = outputs.map { GraphOutput(name: $0.name, value: newIndex[$0.value]) }
    return result
  }
}
