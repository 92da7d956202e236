import DanluIR

/// How the fused recurrent step reads weight_ih and weight_hh: their packed layout for each register width, written
/// either at load time (`pack_panels` that only fused steps read) or on every call (a train step's forward).
extension RecurrentEmitter {
  /// `pack_panels` C for a weight of `depth` columns that only fused steps read (`Graph.recurrentStepWeight`):
  /// `packing` from the operand into the node's value.
  static func pack(_ r: RecurrentAttributes, depth: Int, _ w: String, _ y: String) -> String {
    "  const float *weights = \(w);\n" + y + "  float *packed = y;\n" + packing(r, depth: depth, from: "weights", into: "packed")
  }

  /// A weight of G·H rows of `depth` (weight_ih: the input features; weight_hh: H) into `packed` as the fused step
  /// reads it. With 16 floats a register, in panels of 32 rows (`PackedPanels`; the last one 16 wide when the rows end
  /// there). With 8, by 16-unit blocks: block u holds, for each half of its units (8) and pair of gates (g0, g0 + 1; a
  /// lone last gate alone), the k-major run of the pair's 8-float vectors, which one call of `danlu_recurrent_rows`
  /// reads from start to end. In panels, each such call read a quarter of every 128-byte panel row, and the step
  /// waited on the loads (weight_hh is 512 KB a thread for the benchmark LSTM, the whole of a 512 KB L2): by blocks
  /// the LSTM benchmark went 6.24 → 5.34 ms.
  static func packing(_ r: RecurrentAttributes, depth: Int, from w: String, into packed: String) -> String {
    let (h, gates) = (r.hidden, r.gates)
    let rows = gates * h
    return """
      #if DANLU_REGISTER_FLOATS == 16
        for (long row = 0; row < \(rows); row++) {
          const long p = row / 32, width = \(rows) - p * 32 < 32 ? \(rows) - p * 32 : 32;
          for (long k = 0; k < \(depth); k++) \(packed)[p * \(32 * depth) + k * width + row % 32] = \(w)[row * \(depth) + k];
        }
      #else
        for (long row = 0; row < \(rows); row++) {
          const long gate = row / \(h), j = row % \(h), g0 = gate - gate % 2, pair = \(gates) - g0 < 2 ? 1 : 2;
          float *run = \(packed) + (j / 16) * \(gates * 16 * depth) + (j % 16 / 8) * \(gates * 8 * depth) + g0 * \(8 * depth);
          for (long k = 0; k < \(depth); k++) run[k * 8 * pair + (gate - g0) * 8 + j % 8] = \(w)[row * \(depth) + k];
        }
      #endif

      """
  }
}

extension Graph {
  /// For a `pack_panels` node that only fused recurrent steps read, as their weight_ih or weight_hh: their attributes
  /// (the packed layout is then the step's own, `RecurrentEmitter.packing`); nil when anything else reads it.
  func recurrentStepWeight(_ index: Int) -> RecurrentAttributes? {
    var found: RecurrentAttributes?
    for user in users()[index] {
      let node = nodes[user]
      guard case .recurrent(let r) = node.op, let operand = node.operands.firstIndex(of: index),
            node.operands.lastIndex(of: index) == operand, node.op.packedPanelsOperands.contains(operand)
      else { return nil }
      found = r
    }
    return found
  }
}
