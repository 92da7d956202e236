import DanluIR

/// `prefer-winograd` (default): Winograd F(2×2, 3×3) for stride-1, undilated, ungrouped 3×3 convolutions with at
/// least 16 input channels, where either of its two forms has work for both threads:
/// - a batch's, `WinogradTiling`: 16 OpenBLAS GEMMs per item (a group of images, or one of the two halves of a lone
///   group's tile rows) of at least 256 tile columns. A 64→64 56×56 convolution at batch 64 ran 63 ms against 105 for
///   im2col + GEMM, ResNet-18 at batch 64 1.01–1.06 s against 1.46–1.76 (Benchmarks/RESULTS.md);
/// - a lone image's, `WinogradBlocks` (its filters transformed and packed by `pack-weights`, its tiles in items of
///   about 28 on the panel kernel, which a batch's Winograd convolution takes too where its filters fit): ResNet-18's
///   layer1–3 at batch 1, 1.15–1.36× the convolutions they replace. Items of 98 columns on OpenBLAS (layer2 at batch
///   1) had measured slower than direct convolutions; layer4 (16 tiles) makes one item, and 512-channel filters
///   (VGG16's, 16 MB transformed) are left out, unmeasured. Whether more convolutions of a batch should leave direct
///   loops for it is not measured either.
/// (A direct, BLAS-free loop for LeNet-sized convolutions was also measured: 4.5× slower than im2col + GEMM at batch 1.)
public let preferWinograd = Pass(name: "prefer-winograd",
                                 summary: "Winograd F(2x2,3x3) for large stride-1 3x3 convolutions") { graph in
  graph.mappingConvolutions { a, w, y in
    var chosen = a
    let fits = w[2] == 3 && w[3] == 3 && a.stride == [1, 1] && a.dilation == [1, 1] && a.groups == 1
    let tiling = WinogradTiling(weight: w, output: y)
    let blocked = y[0] == 1 && WinogradBlocks(weight: w, output: y).fits
    if fits && w[1] >= 16 && (tiling.parts > 1 && tiling.itemColumns >= 256 || blocked) { chosen.algorithm = .winograd }
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
