import DanluIR

/// C for `pack_panels` and for the matmuls that read it (`PackedPanels`): a weight packed once at load time, then per
/// run 12 rows of the left side by one 32-wide panel at a time in registers (24 vector accumulators; each step of k
/// loads the panel's two vectors and broadcasts one element of each row), with the fused epilogue applied to the block
/// while it is in L1. Rows go in groups that stay in L2 while every panel of a thread's share passes over them. On
/// the encoder layer's shapes (standalone C, two threads) this ran 370–414 GFLOP/s against OpenBLAS's 290–360, which
/// repacks the weight on every call.
enum PackedGemmEmitter {
  /// `y` = the weight `w` [N, K] in panels: panel p (rows 32p…) holds, for each k, its rows' k-th elements in a row.
  static func pack(_ w: String, rows n: Int, depth k: Int, _ y: String) -> String {
    let width = PackedPanels.width
    return "  const float *w = \(w);\n" + y + """
        for (long p = 0; p < \((n + width - 1) / width); p++) {
          const long n0 = p * \(width), width = \(n) - n0 < \(width) ? \(n) - n0 : \(width);
          for (long k = 0; k < \(k); k++)
            for (long l = 0; l < width; l++) y[n0 * \(k) + k * width + l] = w[(n0 + l) * \(k) + k];
        }

      """
  }

  /// The helper every packed matmul calls: one block of `rows` ≤ 12 rows of `a` (row stride `lda`) by one panel of
  /// `width` (32 or 16) columns over depth `depth`, written to `y` (row stride `ldy`).
  static let helpers = """
    static void danlu_panel_block(const float *restrict a, long lda, const float *restrict panel, long width, long depth,
                                  float *restrict y, long ldy, int rows) {
      danlu_v16f acc[12][2];
      for (int r = 0; r < 12; r++) acc[r][0] = acc[r][1] = (danlu_v16f){0};
      if (rows == 12 && width == 32) {
        for (long k = 0; k < depth; k++) {
          danlu_v16f b0 = danlu_load16(panel + k * 32), b1 = danlu_load16(panel + k * 32 + 16);
          DANLU_IN_REGISTER(b0);
          DANLU_IN_REGISTER(b1);
          #pragma GCC unroll 12
          for (int r = 0; r < 12; r++) {
            const danlu_v16f x = danlu_splat16(a[r * lda + k]);
            acc[r][0] = danlu_fma16(x, b0, acc[r][0]);
            acc[r][1] = danlu_fma16(x, b1, acc[r][1]);
          }
        }
      } else {
        const int vectors = (int)(width / 16);
        for (long k = 0; k < depth; k++)
          for (int r = 0; r < rows; r++) {
            const danlu_v16f x = danlu_splat16(a[r * lda + k]);
            for (int v = 0; v < vectors; v++) acc[r][v] = danlu_fma16(x, danlu_load16(panel + k * width + 16 * v), acc[r][v]);
          }
      }
      for (int r = 0; r < rows; r++)
        for (long v = 0; v < width / 16; v++) danlu_store16(y + r * ldy + 16 * v, acc[r][v]);
    }


    """

  /// `y` = `a` · `w`ᵀ from the packed `w` for `m` rows, `n` columns, depth `k`, each block followed by `steps` (the
  /// epilogue's statements on `v` at `idx`, column `c`; empty for a plain matmul), on `parts` threads by panels.
  static func gemm(_ a: String, _ packed: String, m: Int, n: Int, k: Int, parts: Int, steps: String) -> String {
    let (width, block) = (PackedPanels.width, PackedPanels.blockRows)
    let panels = (n + width - 1) / width
    let group = max(block, PackedPanels.groupFloats / max(1, k) / block * block)
    let epilogue = steps.isEmpty ? "" : """
                for (long r = m0; r < m0 + rows; r++)
                  for (long c = n0; c < n0 + width; c++) {
                    const long idx = r * \(n) + c;
                    float v = y[idx];
          \(steps)
                    y[idx] = v;
                  }

      """
    let body = """
        const long p0 = part * \(panels) / parts, p1 = (part + 1) * \(panels) / parts;
        for (long g0 = 0; g0 < \(m); g0 += \(group)) {
          const long g1 = g0 + \(group) < \(m) ? g0 + \(group) : \(m);
          for (long p = p0; p < p1; p++) {
            const long n0 = p * \(width), width = \(n) - n0 < \(width) ? \(n) - n0 : \(width);
            const float *panel = w + n0 * \(k);
            for (long m0 = g0; m0 < g1; m0 += \(block)) {
              const int rows = g1 - m0 < \(block) ? (int)(g1 - m0) : \(block);
              danlu_panel_block(a + m0 * \(k), \(k), panel, width, \(k), y + m0 * \(n) + n0, \(n), rows);
      \(epilogue)\
            }
          }
        }

      """
    let head = "  const float *a = \(a), *w = \(packed);\n"
    guard parts > 1 else { return head + "  {\n  const long part = 0, parts = 1;\n" + body + "  }\n" }
    return head + KernelEmitter.inParts(parts, body)
  }
}
