extension Graph {
  /// Computed values that depend on no graph input: functions of the weights and compile-time fills (folded
  /// batch-norm weights, for one). Generated code computes them once, in `prepare`, after the weights are bound, and
  /// the memory plan keeps them alive for the whole program — ONNX Runtime's folding of initializer-only subgraphs,
  /// done at load time because the weights arrive with the binary, not with the compiler.
  public var loadTimeValues: Set<Int> {
    let constant = weightOnlyValues
    return Set(nodes.indices.filter { index in
      switch nodes[index].op {
      // Stored, or a view: no kernel of their own.
      case .parameter, .buffer, .reshape: return false
      default: return constant[index]
      }
    })
  }

  /// Per value: whether it depends on no graph input (weights, fills and what is computed from them only).
  public var weightOnlyValues: [Bool] {
    var constant = Array(repeating: false, count: nodes.count)
    for (index, node) in nodes.enumerated() {
      if case .input = node.op { continue }
      constant[index] = node.operands.allSatisfy { constant[$0] }
    }
    return constant
  }
}
