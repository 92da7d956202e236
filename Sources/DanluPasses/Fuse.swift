import DanluIR

/// `fuse`: grows kernel groups from an anchor (conv2d, matmul, or a first elementwise op) through consumers that
/// can run in the same pass over its output: bias_add, batch_norm (inference), an add or mul with a same-shaped
/// tensor (a residual), and activations. A value is absorbed only when the next step is its single user and it is
/// not a graph output. The group takes the place of the chain's last node, so every operand stays defined before it.
///
///     %5 = conv2d(%0, %1) : f32[1,8,4,4]                   %9 = fused(%0, %1, %2, %3, %4, %6, %7) {anchor="conv2d" …
///     %6 = batch_norm(%5, %2, %3, %4, %6) : …        →          epilogue="batch_norm(2,epsilon=1e-05) add(6) relu"}
///     %8 = add(%6, %7) : f32[1,8,4,4]
///     %9 = relu(%8) : f32[1,8,4,4]
///
/// Elementwise-only chains are fused when they have two steps or more; a lone op stays as it is.
public let fuse = Pass(name: "fuse", summary: "fuse conv/matmul epilogues and elementwise chains into kernel groups") { graph in
  var result = graph
  var users = graph.users()
  for output in graph.outputs { users[output.value].append(-1) }  // an output is used outside the graph
  var removed = Array(repeating: false, count: graph.nodes.count)

  for anchorIndex in graph.nodes.indices where !removed[anchorIndex] {
    let anchorNode = result.nodes[anchorIndex]
    var group: FusedGroup
    var operands: [Int]
    var chain = [anchorIndex]
    switch anchorNode.op {
    case .conv2d(let a):
      group = FusedGroup(anchor: .conv2d(a), epilogue: [])
      operands = anchorNode.operands
    case .matmul(let t):  // any rank: the rows are the leading axes flattened, the channels the last axis
      group = FusedGroup(anchor: .matmul(transposeB: t), epilogue: [])
      operands = anchorNode.operands
    default:
      // An elementwise anchor: its own op becomes the first step on operand 0.
      guard !anchorNode.operands.isEmpty, let first = step(anchorNode, consuming: anchorNode.operands[0], in: result, operandBase: 1, channelAxis: nil) else {
        continue
      }
      group = FusedGroup(anchor: .elementwise, epilogue: [first.step])
      operands = [anchorNode.operands[0]] + first.extra
    }

    let outputType = anchorNode.type
    var current = anchorIndex
    while users[current].count == 1, let next = users[current].first, next >= 0, !removed[next] {
      let node = result.nodes[next]
      guard node.type == outputType,
            let step = step(node, consuming: current, in: result, operandBase: operands.count,
                            channelAxis: channelAxis(of: group, outputType)) else { break }
      group.epilogue.append(step.step)
      operands += step.extra
      chain.append(next)
      current = next
    }
    let stepsNeeded = group.anchor == .elementwise ? 2 : 1
    guard group.epilogue.count >= stepsNeeded else { continue }

    for index in chain.dropLast() { removed[index] = true }
    let last = chain.last!
    result.nodes[last] = Node(op: .fused(group), type: outputType, operands: operands, name: anchorNode.name,
                              location: anchorNode.location)
  }
  return deadCodeElimination.run(result.keeping(removed.map { !$0 }))
}

/// The axis that per-channel steps index: 1 for convolution, the last for a matrix product, or the one an
/// elementwise chain's first per-channel step chose.
private func channelAxis(of group: FusedGroup, _ type: TensorType) -> Int? {
  switch group.anchor {
  case .conv2d: return 1
  case .matmul: return type.rank - 1
  case .elementwise:
    for step in group.epilogue {
      if case .biasAdd(let axis, _) = step { return axis }
      if case .batchNorm = step { return 1 }
    }
    return nil
  }
}

/// `node` as an epilogue step applied to `value`, with the operands it adds (numbered from `operandBase`).
private func step(_ node: Node, consuming value: Int, in graph: Graph, operandBase: Int, channelAxis: Int?)
  -> (step: FusedGroup.Step, extra: [Int])?
{
  let sameShape = { (other: Int) in graph.nodes[other].type == node.type }
  switch node.op {
  case .relu, .leakyRelu, .sigmoid, .tanh, .gelu, .silu:
    return (.unary(node.op), [])
  case .biasAdd(let axis) where node.operands[0] == value && (channelAxis ?? axis) == axis:
    return (.biasAdd(axis: axis, operand: operandBase), [node.operands[1]])
  case .batchNorm(let eps) where node.operands[0] == value && (channelAxis ?? 1) == 1 && node.type.rank >= 2:
    return (.batchNorm(epsilon: eps, operand: operandBase), Array(node.operands[1...]))
  case .add, .mul:
    // Commutative: the other operand must already have the output's shape (no broadcasting in an epilogue).
    guard node.operands.contains(value) else { return nil }
    let other = node.operands[0] == value ? node.operands[1] : node.operands[0]
    guard sameShape(other), other != value else { return nil }
    if case .add = node.op { return (.add(operand: operandBase), [other]) }
    return (.mul(operand: operandBase), [other])
  default:
    return nil
  }
}
