import DanluIR

/// C for attention: per batch row, head and block of query rows, the block's scores by one GEMM into the scratch,
/// the masks and a softmax in place, and the weighted sum of v by a second GEMM straight into the result. Only one
/// block of scores exists at a time; a causal block stops at its last query's key.
enum AttentionEmitter {
  /// Query rows per block (`Graph.scratchFloats` sizes the scratch for it): 64 keeps a block of scores for 1–2 K keys in L2.
  static let blockRows = 64

  struct Geometry {
    let batch, queries, keys, width, headSize, block: Int
    /// Floats from one position to the next of the same batch row (q, k, v and the result share it).
    let stride: Int
    let batchFirst: Bool

    init(_ a: AttentionAttributes, q: [Int], k: [Int]) {
      (batch, queries) = a.batchAndLength(q)
      keys = a.batchAndLength(k).length
      (width, headSize, block) = (q[2], q[2] / a.heads, min(AttentionEmitter.blockRows, queries))
      (stride, batchFirst) = (a.batchFirst ? q[2] : batch * q[2], a.batchFirst)
    }

    /// The first element of position `s` of batch row `n` in a tensor of `length` positions.
    func row(_ n: String, _ s: String, length: Int) -> String {
      batchFirst ? "((\(n)) * \(length) + (\(s))) * \(width)" : "((\(s)) * \(batch) + (\(n))) * \(width)"
    }
    func queryRow(_ n: String, _ s: String) -> String { row(n, s, length: queries) }
    func keyRow(_ n: String) -> String { row(n, "0", length: keys) }
  }

  /// Inside the block loop: `p` = the block's attention weights (rows × `kc` keys, row stride `keys`), masked
  /// entries 0, a row that sees no key NaN.
  static func weights(_ a: AttentionAttributes, _ g: Geometry) -> String {
    let mask = a.keyPadding ? "\n              if (mask[n * \(g.keys) + j] != 0.0f) row[j] = -INFINITY;" : ""
    let causal = a.causal ? "\n              if (j > i0 + r) row[j] = -INFINITY;" : ""
    return """
              const long rows = i0 + \(g.block) <= \(g.queries) ? \(g.block) : \(g.queries) - i0;
              const long kc = \(a.causal ? "i0 + rows < \(g.keys) ? i0 + rows : \(g.keys)" : "\(g.keys)");
              const float *qb = q + \(g.queryRow("n", "i0")) + h * \(g.headSize), *kb = k + \(g.keyRow("n")) + h * \(g.headSize);
              cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, kc, \(g.headSize), \(1 / Float(g.headSize).squareRoot())f, qb, \(g.stride), kb, \(g.stride), 0.0f, p, \(g.keys));
              for (long r = 0; r < rows; r++) {
                float *row = p + r * \(g.keys), peak = -INFINITY, total = 0.0f;
                for (long j = 0; j < kc; j++) {\(mask)\(causal)
                  peak = fmaxf(peak, row[j]);
                }
                if (peak == -INFINITY) { for (long j = 0; j < kc; j++) row[j] = NAN; continue; }
                total = danlu_exp_sum(row, kc, peak);
                const float inv = 1.0f / total;
                for (long j = 0; j < kc; j++) row[j] *= inv;
              }

      """
  }

  static func header(_ a: AttentionAttributes, _ context: KernelContext, first: Int) -> String {
    let names = ["q", "k", "v"]
    var out = names.enumerated().map { "  const float *\($1) = \(context.x(first + $0));\n" }.joined()
    if a.keyPadding { out += "  const float *mask = \(context.x(first + 3));\n" }
    return out
  }

  static func kernel(_ a: AttentionAttributes, _ context: KernelContext, scratch: String) -> String {
    if a.vectorizedForward(width: context.shape(0)[2]) { return vectorKernel(a, context, scratch: scratch) }
    let g = Geometry(a, q: context.shape(0), k: context.shape(1))
    return header(a, context, first: 0) + context.y + """
        float *p = \(scratch);
        for (long n = 0; n < \(g.batch); n++)
          for (long h = 0; h < \(a.heads); h++)
            for (long i0 = 0; i0 < \(g.queries); i0 += \(g.block)) {
      \(weights(a, g))
              cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, \(g.headSize), kc, 1.0f, p, \(g.keys), v + \(g.keyRow("n")) + h * \(g.headSize), \(g.stride), 0.0f, y + \(g.queryRow("n", "i0")) + h * \(g.headSize), \(g.stride));
            }

      """
  }

  /// dq, dk and dv packed in that order: the weights recomputed per block, then dv += pᵀ·dy, ds = p ⊙ (dy·vᵀ − Σ),
  /// dq = ds·k / √D and dk += dsᵀ·q / √D.
  static func backward(_ a: AttentionAttributes, _ context: KernelContext, scratch: String) -> String {
    let g = Geometry(a, q: context.shape(1), k: context.shape(2))
    let (qCount, kCount) = (context.shape(1).reduce(1, *), context.shape(2).reduce(1, *))
    let scale = "\(1 / Float(g.headSize).squareRoot())f"
    return "  const float *dy = \(context.x(0));\n" + header(a, context, first: 1) + context.y + """
        float *dq = y, *dk = y + \(qCount), *dv = dk + \(kCount);
        float *p = \(scratch), *ds = p + \(g.block * g.keys);
        memset(dk, 0, sizeof(float) * \(2 * kCount));
        for (long n = 0; n < \(g.batch); n++)
          for (long h = 0; h < \(a.heads); h++)
            for (long i0 = 0; i0 < \(g.queries); i0 += \(g.block)) {
      \(weights(a, g))
              const long at = \(g.queryRow("n", "i0")) + h * \(g.headSize), kt = \(g.keyRow("n")) + h * \(g.headSize);
              cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kc, \(g.headSize), rows, 1.0f, p, \(g.keys), dy + at, \(g.stride), 1.0f, dv + kt, \(g.stride));
              cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, kc, \(g.headSize), 1.0f, dy + at, \(g.stride), v + kt, \(g.stride), 0.0f, ds, \(g.keys));
              for (long r = 0; r < rows; r++) {
                const float *pr = p + r * \(g.keys);
                float *dr = ds + r * \(g.keys), sum = 0.0f;
                for (long j = 0; j < kc; j++) sum += pr[j] * dr[j];
                for (long j = 0; j < kc; j++) dr[j] = pr[j] * (dr[j] - sum) * \(scale);
              }
              cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, \(g.headSize), kc, 1.0f, ds, \(g.keys), k + kt, \(g.stride), 0.0f, dq + at, \(g.stride));
              cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kc, \(g.headSize), rows, 1.0f, ds, \(g.keys), q + at, \(g.stride), 1.0f, dk + kt, \(g.stride));
            }

      """
  }
}
