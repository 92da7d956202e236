import DanluIR

/// `prefer-winograd` (default): Winograd F(2×2, 3×3) for stride-1, undilated, ungrouped 3×3 convolutions with at
/// least 16 input channels whose work splits into two or more items (`WinogradTiling`: groups of images, or the two
/// halves of a lone group's rows of tiles) of at least 256 tile columns, so that two threads transform and multiply
/// an item each. There it wins: a 64→64 56×56 convolution at batch 64 ran 63 ms against 105 for im2col + GEMM,
/// ResNet-18 at batch 64 1.01–1.06 s against 1.46–1.76, and its layer1 at batch 1 1.0–1.1 ms a convolution against
/// 1.5–1.9 (Benchmarks/RESULTS.md). Items of 98 columns (layer2 at batch 1) measured slower as a whole model
/// (24.1–25.7 against 23.4–24.1 ms), hence the bound. (A direct, BLAS-free loop for LeNet-sized convolutions was also
/// measured: 4.5× slower than im2col + GEMM at batch 1, so GEMM is the only other algorithm.)
public let preferWinograd = Pass(name: "prefer-winograd",
                                 summary: "Winograd F(2x2,3x3) for large stride-1 3x3 convolutions") { graph in
  graph.mappingConvolutions { a, w, y in
    var chosen = a
    let fits = w[2] == 3 && w[3] == 3 && a.stride == [1, 1] && a.dilation == [1, 1] && a.groups == 1
    let tiling = WinogradTiling(weight: w, output: y)
    if fits && w[1] >= 16 && tiling.parts > 1 && tiling.itemColumns >= 256 { chosen.algorithm = .winograd }
    return chosen
  }
}

extension Graph {
  /// The graph with every convolution's attributes (plain or as a fused anchor) passed through `change`, which
  /// also sees the weight shape (O, I, kh, kw) and output shape (N, O, OH, OW).
  func mappingConvolutions(_ change: (Conv2dAttributes, [Int], [Int]) -> Conv2dAttributes) -> Graph {
    var result = self
    for (index, node) in nodes.enumerated() {
      guard node.operands.count > 1, let w = nodes[node.operands[1]].type.staticShape, w.count == 4,
            let y = node.type.staticShape, y.count == 4 else { continue }
      switch node.op {
      case .conv2d(let a): result.nodes[index].op = .conv2d(change(a, w, y))
      case .fused(var group):
        guard case .conv2d(let a) = group.anchor else { continue }
        group.anchor = .conv2d(change(a, w, y))
        result.nodes[index].op = .fused(group)
      default: continue
      }
    }
    return result
  }
}
