import DanluIR
import DanluInterpreter

/// `fold-constants`: compile-time folding of what is known without the weights.
///
/// - An op whose operands are all `fill`s is evaluated by the reference interpreter; a uniform result becomes one
///   `fill` (`relu(fill 2) → fill 2`, `reshape(fill 0) → fill 0`, `add(fill 1, fill 2) → fill 3`).
/// - Identities that keep the type: `add(x, fill 0)`, `mul(x, fill 1)`, `bias_add(x, fill 0)` → `x`.
///
/// Values that depend on the weights but on no input are folded later, at load time (`Graph.loadTimeValues`),
/// because the weights arrive with the binary, not with the compiler.
public let foldConstants = Pass(name: "fold-constants", summary: "evaluate ops on compile-time constants; drop identities") { graph in
  var result = graph
  var replacement = Array(graph.nodes.indices)
  for index in result.nodes.indices {
    result.nodes[index].operands = result.nodes[index].operands.map { replacement[$0] }
    let node = result.nodes[index]
    guard !node.operands.isEmpty else { continue }
    let fills = node.operands.map { value -> Float? in
      if case .fill(let v) = result.nodes[value].op { return v }
      return nil
    }
    if fills.allSatisfy({ $0 != nil }), let value = evaluateUniform(node, operandTypes: node.operands.map { result.nodes[$0].type }, fills.map { $0! }) {
      result.nodes[index] = Node(op: .fill(value), type: node.type, operands: [], name: node.name, location: node.location)
      continue
    }
    if let kept = identityOperand(node, fills, result) { replacement[index] = kept }
  }
  result.outputs = result.outputs.map { GraphOutput(name: $0.name, value: replacement[$0.value]) }
  return deadCodeElimination.run(result)
}

/// The operand an identity passes through unchanged, if the node is one.
private func identityOperand(_ node: Node, _ fills: [Float?], _ graph: Graph) -> Int? {
  let neutral: Float
  switch node.op {
  case .add, .biasAdd: neutral = 0
  case .mul: neutral = 1
  default: return nil
  }
  // bias_add's bias is operand 1 only; add and mul commute.
  let candidates = { if case .biasAdd = node.op { [1] } else { [1, 0] } }()
  for position in candidates where fills[position] == neutral {
    let kept = node.operands[1 - position]
    if graph.nodes[kept].type == node.type { return kept }
  }
  return nil
}

/// Runs `node` on fills through the interpreter; the value when every element of the result is the same.
private func evaluateUniform(_ node: Node, operandTypes: [TensorType], _ values: [Float]) -> Float? {
  guard let shape = node.type.staticShape, shape.reduce(1, *) <= 1 << 20,
        operandTypes.allSatisfy({ ($0.staticShape?.reduce(1, *) ?? .max) <= 1 << 20 }) else { return nil }
  var tiny = Graph(name: "fold")
  let operands = zip(operandTypes, values).map { type, value in tiny.addLeaf(.fill(value), type: type, name: "c") }
  tiny.nodes.append(Node(op: node.op, type: node.type, operands: operands, name: node.name, location: node.location))
  tiny.outputs = [GraphOutput(name: "y", value: tiny.nodes.count - 1)]
  guard let data = try? Interpreter.run(tiny, inputs: [:], weights: [:])["y"]?.data, let first = data.first,
        data.allSatisfy({ $0.bitPattern == first.bitPattern }) else { return nil }
  return first
}
