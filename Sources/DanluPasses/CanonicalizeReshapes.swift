import DanluIR

/// `canonicalize-reshapes`: a reshape of a reshape reads the original tensor, and a reshape to the same shape is
/// dropped (its users read its operand).
///
///     %1 = reshape(%0) : f32[N,4,2]                %1 = reshape(%0) : f32[N,4,2]
///     %2 = reshape(%1) : f32[N,8]        →         %2 = reshape(%0) : f32[N,8]
///     %3 = reshape(%2) : f32[N,8]                  (%3 removed; users of %3 read %2)
public let canonicalizeReshapes = Pass(name: "canonicalize-reshapes",
                                       summary: "fold reshape chains and drop reshapes that change nothing") { graph in
  bypassing(graph) { result, index in
    guard case .reshape = result.nodes[index].op else { return nil }
    let source = result.nodes[index].operands[0]
    if result.nodes[source].type == result.nodes[index].type { return source }
    if case .reshape = result.nodes[source].op { result.nodes[index].operands = result.nodes[source].operands }
    return nil
  }
}
