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

  /// Whether a weight of `rows` rows can be packed: whole vectors only.
  public static func packable(rows: Int) -> Bool { rows > 0 && rows % 16 == 0 }
}

extension Graph {
  /// For a matmul (plain or a fused anchor) whose right side is `pack_panels`: its left side's rows M, the output
  /// columns N and the depth K, and the parts it runs in; nil for any other node.
  public func packedMatmul(_ index: Int) -> (rows: Int, columns: Int, depth: Int, parts: Int)? {
    let node = nodes[index]
    guard node.op.readsPackedPanels, node.operands.count > 1, case .packPanels = nodes[node.operands[1]].op,
          let w = nodes[node.operands[1]].type.staticShape, let out = node.type.staticShape else { return nil }
    let (n, k) = (w[0], w[1])
    let m = out.reduce(1, *) / n
    return (m, n, k, m * n * k >= PackedPanels.partsFrom && n > PackedPanels.width ? 2 : 1)
  }
}
