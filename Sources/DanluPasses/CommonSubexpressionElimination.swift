import DanluIR

/// `cse`: a computing node with the same op, operands and type as an earlier one is that earlier value (names and
/// locations do not matter). Leaves are never merged: two parameters with equal shapes are different weights.
///
///     %2 = relu(%0) : f32[2,4]  # a                 %2 = relu(%0) : f32[2,4]  # a
///     %3 = relu(%0) : f32[2,4]  # b        →        %3 = add(%2, %2) : f32[2,4]  # sum
///     %4 = add(%2, %3) : f32[2,4]  # sum
public let commonSubexpressionElimination = Pass(name: "cse", summary: "merge identical computations") { graph in
  struct Key: Hashable {
    var op: Op
    var operands: [Int]
    var type: TensorType
  }
  var result = graph
  var replacement = Array(graph.nodes.indices)
  var keep = Array(repeating: true, count: graph.nodes.count)
  var seen: [Key: Int] = [:]
  for index in result.nodes.indices {
    result.nodes[index].operands = result.nodes[index].operands.map { replacement[$0] }
    let node = result.nodes[index]
    switch node.op {
    case .input, .parameter, .buffer: continue
    default: break
    }
    let key = Key(op: node.op, operands: node.operands, type: node.type)
    if let earlier = seen[key] {
      replacement[index] = earlier
      keep[index] = false
    } else {
      seen[key] = index
    }
  }
  result.outputs = result.outputs.map { GraphOutput(name: $0.name, value: replacement[$0.value]) }
  return result.keeping(keep)
}
