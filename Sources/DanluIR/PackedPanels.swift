/// The storage order of `pack_panels` and what a matmul reading it needs: the weight's rows (the matmul's output
/// columns) in panels of 32, each panel K rows of 32 consecutive floats (k-major), so that every step of the product
/// loads two whole vectors of one panel; the last panel is 16 wide when the row count is an odd multiple of 16.
public enum PackedPanels {
  /// Rows of the weight per panel.
  public static let width = 32
  /// Rows of the left side per register block: 12 rows × 2 vectors of accumulators, with the panel's 2 vectors and a
  /// broadcast, fill AVX-512's 32 vector registers.
  public static let blockRows = 12
  /// Floats of the left side a group of row blocks keeps under (1 MB, this machine's L2 per core), so that the
  /// group stays in L2 while every panel passes over it.
  public static let groupFloats = 256 * 1024
  /// From this many multiply-adds the panels are shared between two threads (as convolutions: `ConvTiling`).
  public static let partsFrom = 2 * 1024 * 1024
  /// Products smaller than this keep OpenBLAS: waking an OpenMP thread from its passive wait costs ~50 µs here, and
  /// the MLP at batch 64 (64×512×784, 26M multiply-adds) measured 0.28–0.30 ms packed against 0.23–0.25 (medians).
  public static let macsFrom = 32 * 1024 * 1024
  /// The largest im2col (floats) a packed convolution of a shallow filter fills at once: ResNet-18's stem (147 ×
  /// 12544, 7.4 MB) ran 0.97 → 1.17 ms packed, its layer2–4 convolutions (up to 1152 × 784) faster (layer4's 1.17 →
  /// 0.87 ms). A deep filter (`deepFrom`) packs whatever its im2col: VGG16's 512-channel convolutions at 28×28 (4608 ×
  /// 784, 14 MB) took the whole model 89.5–92 → 85–87 ms, each row group of the im2col staying in L2 while the
  /// panels pass.
  public static let im2colFloatsAtMost = 1024 * 1024
  /// Filter sizes (the GEMM's depth) from which a convolution packs with an im2col of any size.
  public static let deepFrom = 1024

  /// Whether a weight of `rows` rows can be packed: whole vectors only.
  public static func packable(rows: Int) -> Bool { rows > 0 && rows % 16 == 0 }

  /// Two parts (panels shared between two threads) from `partsFrom` multiply-adds and more than one panel.
  static func parts(macs: Int, rows: Int) -> Int { macs >= partsFrom && rows > width ? 2 : 1 }

  /// A single row's product (a matrix-vector product, packed only in graphs made of them: `singleRowsFrom`) takes
  /// two threads from this many weight floats (256 KB): each core then keeps its half of the panels in its own L2
  /// from one run to the next, where a whole MLP's weights (2.1 MB) would stream from L3 to one.
  public static let vectorPartsFrom = 64 * 1024
  /// Single-row products are packed when they carry at least this share of the graph's multiply-adds: their regions
  /// then spin between each other (`CEmitter.spinsBetweenRegions`), where waking a sleeping thread (~50 µs) would cost
  /// more than a product of a few µs.
  public static let singleRowsFrom = 0.9
}

extension Graph {
  /// For a matmul (plain or a fused anchor) whose right side is `pack_panels`: its left side's rows M, the output
  /// columns N and the depth K, and the parts it runs in; nil for any other node.
  public func packedMatmul(_ index: Int) -> (rows: Int, columns: Int, depth: Int, parts: Int)? {
    let node = nodes[index]
    switch node.op {
    case .matmul: break
    case .fused(let group): guard case .matmul = group.anchor else { return nil }
    default: return nil
    }
    guard let w = packedWeight(index), let out = node.type.staticShape else { return nil }
    let (n, k) = (w[0], w[1])
    let m = out.reduce(1, *) / n
    if m == 1 { return (m, n, k, n * k >= PackedPanels.vectorPartsFrom && n > PackedPanels.width ? 2 : 1) }
    return (m, n, k, PackedPanels.parts(macs: m * n * k, rows: n))
  }

  /// For a GEMM convolution (plain or a fused anchor) whose weight is `pack_panels`: output positions per image, the
  /// filter size (the GEMM's depth), the output channels, and the parts it runs in; nil for any other node (a direct
  /// convolution reads packed filters its own way: `directConvolution`).
  public func packedConvolution(_ index: Int) -> (spatial: Int, depth: Int, channels: Int, parts: Int)? {
    guard let conv = forwardConvolution(index), conv.attributes.algorithm == .gemm, packedWeight(index) != nil
    else { return nil }
    let (w, y) = (conv.weight, conv.output)
    let (spatial, depth) = (y[2] * y[3], w[1] * w[2] * w[3])
    return (spatial, depth, w[0], PackedPanels.parts(macs: y[0] * spatial * depth * w[0], rows: w[0]))
  }

  /// The shape of node `index`'s operand 1 when it is `pack_panels`.
  private func packedWeight(_ index: Int) -> [Int]? {
    let node = nodes[index]
    guard node.operands.count > 1, case .packPanels = nodes[node.operands[1]].op else { return nil }
    return nodes[node.operands[1]].type.staticShape
  }
}
