/// Which kernels read and write activations in `Layout.nchw8c` (`choose-layout` decides which tensors do; the
/// verifier holds every reader and writer to these rules). A writer is a max pool or a direct convolution by filters
/// (`DirectConvolution.filters`): its blocks of 32 filters by a few positions store as whole 8-channel vectors instead
/// of 8×8 transposes into NCHW planes. A reader is a convolution that copies its input before it multiplies: the
/// direct one by filters (into its zero-bordered plane, which is then blocked as well: a tap's 8 channels share a
/// cache line) or an im2col; and a direct convolution by filters reads the residual operands of its epilogue in
/// either layout. A max pool reads and writes either layout (a window's 8 channels one vector). Everything else
/// (average pooling, Winograd, a pointwise GEMM reading its input in place, elementwise ops, a graph output) reads
/// NCHW.
extension Graph {
  /// Whether node `index` may write its output in `Layout.nchw8c`: a direct convolution by filters or a max pool.
  public func writesBlocked(_ index: Int) -> Bool {
    guard let out = nodes[index].type.staticShape, out.count == 4, out[1] % Layout.nchw8c.block == 0 else { return false }
    if case .maxPool2d = nodes[index].op { return true }
    return directConvolution(index)?.filters ?? false
  }

  /// Whether node `index` may read its operand at `position` in `Layout.nchw8c`.
  public func readsBlocked(_ index: Int, position: Int) -> Bool {
    if case .maxPool2d = nodes[index].op, let x = nodes[nodes[index].operands[0]].type.staticShape {
      return x.count == 4 && x[1] % Layout.nchw8c.block == 0
    }
    guard let conv = forwardConvolution(index), conv.attributes.groups == 1,
          conv.input[1] % Layout.nchw8c.block == 0 else { return false }
    let a = conv.attributes, byFilters = directConvolution(index)?.filters ?? false
    if position == 0 {
      return byFilters || (a.algorithm == .gemm && !a.isPointwise(kernel: [conv.weight[2], conv.weight[3]]))
    }
    // An epilogue's residual: a same-shaped operand of an add or mul step.
    guard byFilters, case .fused(let group) = nodes[index].op,
          nodes[nodes[index].operands[position]].type.staticShape == conv.output else { return false }
    return group.epilogue.contains { step in
      switch step {
      case .add(let i), .mul(let i): return i == position
      default: return false
      }
    }
  }

  /// The layout rules broken: a blocked value written by a kernel that cannot, read where only NCHW is read, or
  /// leaving the graph.
  func layoutProblems() -> [String] {
    var problems: [String] = []
    for (index, node) in nodes.enumerated() {
      let where_ = "%\(index) (\(node.op.mnemonic) '\(node.name)')"
      if node.type.layout == .nchw8c && !writesBlocked(index) {
        problems.append("\(where_) cannot write \(node.type)")
      }
      for (position, operand) in node.operands.enumerated() where nodes.indices.contains(operand) {
        if nodes[operand].type.layout == .nchw8c && !readsBlocked(index, position: position) {
          problems.append("\(where_) cannot read %\(operand) (\(nodes[operand].type)) as operand \(position)")
        }
      }
    }
    for output in outputs where nodes.indices.contains(output.value) && nodes[output.value].type.layout != .nchw {
      problems.append("output '\(output.name)' is \(nodes[output.value].type), not NCHW")
    }
    return problems
  }
}
