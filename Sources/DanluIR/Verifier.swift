/// Structural invariants every pass must keep: operands point backwards, leaves have none, every type is the one
/// shape inference gives (in whatever layout, `Graph.layoutProblems`), outputs exist, input and parameter names are
/// unique.
public enum Verifier {
  public static func problems(_ graph: Graph) -> [String] {
    var problems: [String] = []
    var leafNames: Set<String> = []
    for (index, node) in graph.nodes.enumerated() {
      let where_ = "%\(index) (\(node.op.mnemonic) '\(node.name)')"
      if node.operands.contains(where: { $0 < 0 || $0 >= index }) {
        problems.append("\(where_) uses a value that is not defined before it")
        continue
      }
      switch node.op {
      case .input(let name), .parameter(let name), .buffer(let name):
        if !node.operands.isEmpty { problems.append("\(where_) is a leaf but has operands") }
        if !leafNames.insert(name).inserted { problems.append("\(where_): the name '\(name)' is defined twice") }
      case .fill, .sinusoid:
        if !node.operands.isEmpty { problems.append("\(where_) is a leaf but has operands") }
      case .reshape:
        guard node.operands.count == 1 else { problems.append("\(where_) takes one operand"); continue }
        do {
          try ShapeInference.checkReshape(from: graph.nodes[node.operands[0]].type, to: node.type, layer: node.name,
                                          at: node.location)
        } catch { problems.append("\(where_): \(error)") }
      default:
        guard node.operands.count == expectedArity(node.op) ?? node.operands.count, !node.operands.isEmpty else {
          problems.append("\(where_) has \(node.operands.count) operands")
          continue
        }
        do {
          let inferred = try ShapeInference.infer(node.op, node.operands.map { graph.nodes[$0].type }, layer: node.name,
                                                  at: node.location)
          if inferred.plain != node.type.plain { problems.append("\(where_) has type \(node.type) but its operands give \(inferred)") }
        } catch { problems.append("\(where_): \(error)") }
      }
    }
    // Packed panels are a storage order only their readers' weight operands read (`Op.packedPanelsOperands`), of
    // whole vectors of rows (the kernels that read them load 16 at a time).
    for (index, node) in graph.nodes.enumerated() {
      if case .packPanels = node.op, let rows = node.type.staticShape?.first, !PackedPanels.packable(rows: rows) {
        problems.append("%\(index) (pack_panels '\(node.name)') packs \(rows) rows, not a multiple of 16")
      }
      for (position, operand) in node.operands.enumerated() where graph.nodes.indices.contains(operand) {
        guard case .packPanels = graph.nodes[operand].op else { continue }
        if !node.op.packedPanelsOperands.contains(position) {
          problems.append("%\(index) (\(node.op.mnemonic) '\(node.name)') reads the packed panels %\(operand) as operand \(position)")
        }
      }
    }
    problems += graph.layoutProblems()
    for output in graph.outputs where !graph.nodes.indices.contains(output.value) {
      problems.append("output '\(output.name)' names %\(output.value), which does not exist")
    }
    for output in graph.outputs where graph.nodes.indices.contains(output.value) {
      if case .packPanels = graph.nodes[output.value].op { problems.append("output '\(output.name)' is packed panels") }
    }
    return problems
  }

  /// Checks a graph whose invariants the compiler itself must have kept; a failure is a compiler bug.
  public static func verify(_ graph: Graph, after stage: String) {
    let found = problems(graph)
    if !found.isEmpty {
      preconditionFailure("IR verification failed after \(stage):\n" + found.joined(separator: "\n") + "\n"
        + IRPrinter.print(graph))
    }
  }

  static func expectedArity(_ op: Op) -> Int? {
    switch op {
    case .input, .parameter, .buffer, .fill, .sinusoid: return 0
    case .relu, .leakyRelu, .sigmoid, .tanh, .gelu, .silu, .softmax, .logSoftmax, .reshape, .maxPool2d, .avgPool2d,
         .adaptiveAvgPool2d, .dropout, .slice, .packPanels: return 1
    case .recurrent(let r): return r.operandCount
    case .attention(let a): return a.operandCount
    case .add, .mul, .matmul, .biasAdd, .conv2d, .embedding: return 2
    case .batchNorm: return 5
    case .layerNorm: return 3
    case .concat, .fused: return nil
    case .training(let t): return t.arity
    }
  }
}
