import DanluIR

/// `choose-conv-algorithm`: Winograd F(2×2, 3×3) for stride-1, undilated, ungrouped 3×3 convolutions with at least
/// 64 output tiles and 16 input channels; GEMM (im2col, or direct for 1×1) for the rest. Below those sizes the tile
/// transforms cost more than the multiplies they save. Not in the default pipeline yet (see `PassRegistry.inference`).
///
///     %2 = conv2d(%0, %1) {dilation=[1,1] groups=1 padding=[1,1] stride=[1,1]} : f32[1,16,20,18]
///       →  %2 = conv2d(%0, %1) {algorithm="winograd" dilation=[1,1] groups=1 padding=[1,1] stride=[1,1]} : …
public let chooseConvAlgorithm = Pass(name: "choose-conv-algorithm",
                                      summary: "Winograd F(2x2,3x3) for large stride-1 3x3 convolutions, GEMM otherwise") { graph in
  var result = graph
  func choose(_ a: Conv2dAttributes, _ node: Node) -> Conv2dAttributes {
    var chosen = a
    let w = graph.nodes[node.operands[1]].type.staticShape ?? [], y = node.type.staticShape ?? []
    let fits = w.count == 4 && y.count == 4 && w[2] == 3 && w[3] == 3 && a.stride == [1, 1] && a.dilation == [1, 1]
      && a.groups == 1
    chosen.algorithm = fits && w[1] >= 16 && Graph.winogradTiles(y[2], y[3]) >= 64 ? .winograd : .gemm
    return chosen
  }
  for (index, node) in graph.nodes.enumerated() {
    switch node.op {
    case .conv2d(let a): result.nodes[index].op = .conv2d(choose(a, node))
    case .fused(var group):
      guard case .conv2d(let a) = group.anchor else { continue }
      group.anchor = .conv2d(choose(a, node))
      result.nodes[index].op = .fused(group)
    default: continue
    }
  }
  return result
}
