import DanluIR

/// The forward attention kernel as vector loops, for head sizes that are a multiple of 16: per batch row and head,
/// the head's keys transposed once (`kt`, D × padded keys, zero past the last key), then per 4 query rows the scores
/// 64 keys at a time (4 × 4 vectors of running sums, each step one broadcast query element against 4 vectors of
/// `kt`), the masks and softmax on those rows, and the weighted sum of v the same way (a broadcast weight against up
/// to 4 vectors of a value row). OpenBLAS's sgemm on the block products (64×128×64 in the encoder layer) ran at ~40
/// GFLOP/s on one core and split poorly over two.
extension AttentionEmitter {
  static func vectorKernel(_ a: AttentionAttributes, _ context: KernelContext, scratch: String) -> String {
    let g = Geometry(a, q: context.shape(0), k: context.shape(1))
    let (d, padded) = (g.headSize, AttentionAttributes.paddedKeys(g.keys))
    let scale = "\(1 / Float(d).squareRoot())f"
    let rows = 0..<4
    func lines(_ items: [String], indent: String) -> String { items.map { indent + $0 + "\n" }.joined() }

    // Scores of 4 query rows against keys j0..<j0+64: with 16 floats a register, 4 × 4 vectors of sums; with 8 (no
    // AVX-512: 16 registers), 16 keys at a time, 4 × 2 vectors.
    func scores(lanes: Int) -> String {
      let (v, chunks) = ("danlu_v\(lanes)f", 0..<(lanes == 16 ? 4 : 2))
      let width = lanes * chunks.count
      let sums = lines(rows.flatMap { r in chunks.map { c in "\(v) s\(r)\(c) = {0};" } }, indent: "        ")
      let steps = lines(chunks.map { c in "const \(v) k\(c) = danlu_load\(lanes)(kd + \(lanes * c));" }
        + rows.flatMap { r in
          ["const \(v) q\(r) = danlu_splat\(lanes)(qr\(r)[e]);"]
            + chunks.map { c in "s\(r)\(c) = danlu_fma\(lanes)(q\(r), k\(c), s\(r)\(c));" }
        }, indent: "          ")
      let stores = lines(rows.flatMap { r in chunks.map { c in
        "danlu_store\(lanes)(pb + \(r * padded) + jj + \(lanes * c), s\(r)\(c) * \(scale));"
      } }, indent: "        ")
      return """
              for (long jj = j0; jj < j0 + 64; jj += \(width)) {
        \(sums)\
                for (long e = 0; e < \(d); e++) {
                  const float *kd = kt + e * \(padded) + jj;
        \(steps)\
                }
        \(stores)\
              }

        """
    }

    // The weighted sum of v for head elements d0..<d0+16·vectors (by 16 elements at a time with 8 floats a register).
    func weightedSum(_ d0: Int, vectors: Int, lanes: Int) -> String {
      let v = "danlu_v\(lanes)f"
      let range = 0..<(lanes == 16 ? vectors : 2)
      let pieces = lanes == 16 ? [d0] : Array(stride(from: d0, to: d0 + 16 * vectors, by: 16))
      return pieces.map { e0 in
        "        {\n"
          + lines(rows.flatMap { r in range.map { c in "\(v) o\(r)\(c) = {0};" } }, indent: "          ")
          + "          for (long j = 0; j < kc; j++) {\n"
          + "            const float *vj = vb + j * \(g.stride) + \(e0);\n"
          + lines(range.map { c in "const \(v) v\(c) = danlu_load\(lanes)(vj + \(lanes * c));" }
                    + rows.flatMap { r in
                      ["const \(v) w\(r) = danlu_splat\(lanes)(pb[\(r * padded) + j]);"]
                        + range.map { c in "o\(r)\(c) = danlu_fma\(lanes)(w\(r), v\(c), o\(r)\(c));" }
                    }, indent: "            ")
          + "          }\n"
          + lines(rows.flatMap { r in range.map { c in
            "if (\(r) < rows) danlu_store\(lanes)(y + \(g.queryRow("n", "i0 + \(r)")) + h * \(d) + \(e0 + lanes * c), o\(r)\(c));"
          } }, indent: "          ")
          + "        }\n"
      }.joined()
    }
    func allSums(lanes: Int) -> String {
      stride(from: 0, to: d, by: 64).map { weightedSum($0, vectors: min(4, (d - $0) / 16), lanes: lanes) }.joined()
    }
    let sums = "#if DANLU_REGISTER_FLOATS == 16\n" + allSums(lanes: 16) + "#else\n" + allSums(lanes: 8) + "#endif\n"
    let scoreBlocks = "#if DANLU_REGISTER_FLOATS == 16\n" + scores(lanes: 16) + "#else\n" + scores(lanes: 8) + "#endif\n"

    let mask = a.keyPadding ? "\n              if (mask[n * \(g.keys) + j] != 0.0f) row[j] = -INFINITY;" : ""
    let causal = a.causal ? "\n              if (j > i0 + r) row[j] = -INFINITY;" : ""
    let parts = a.forwardParts(q: context.shape(0), k: context.shape(1))
    // The (batch row, head) pairs are claimed as the threads go (`danlu_claim_item`), each its own half first.
    let claim = "danlu_claim_item(claims, part, \(g.batch * a.heads))"
    return header(a, context, first: 0) + context.y + KernelEmitter.inParts(parts, """
        float *kt = \(scratch) + part * \((d + 4) * padded), *pb = kt + \(d * padded);
        for (long j = \(g.keys); j < \(padded); j++)
          for (long e = 0; e < \(d); e++) kt[e * \(padded) + j] = 0.0f;
        for (long item = \(claim); item >= 0; item = \(claim)) {
            const long n = item / \(a.heads), h = item % \(a.heads);
            const float *kb = k + \(g.keyRow("n")) + h * \(d), *vb = v + \(g.keyRow("n")) + h * \(d);
            for (long j = 0; j < \(g.keys); j++)
              for (long e = 0; e < \(d); e++) kt[e * \(padded) + j] = kb[j * \(g.stride) + e];
            for (long i0 = 0; i0 < \(g.queries); i0 += 4) {
              const long rows = i0 + 4 <= \(g.queries) ? 4 : \(g.queries) - i0;
              const long kc = \(a.causal ? "i0 + rows < \(g.keys) ? i0 + rows : \(g.keys)" : "\(g.keys)");
              /* A last group of fewer than 4 rows repeats its last row; those results are not stored. */
      \(lines(rows.map { r in
        "const float *qr\(r) = q + \(g.queryRow("n", "i0 + (\(r) < rows ? \(r) : rows - 1)")) + h * \(d);"
      }, indent: "        "))\
              for (long j0 = 0; j0 < kc; j0 += 64) {
      \(scoreBlocks)\
              }
              for (long r = 0; r < rows; r++) {
                float *row = pb + r * \(padded), peak = -INFINITY;
                for (long j = 0; j < kc; j++) {\(mask)\(causal)
                  peak = row[j] > peak ? row[j] : peak;  /* fmaxf is a libm call here */
                }
                if (peak == -INFINITY) { for (long j = 0; j < kc; j++) row[j] = NAN; continue; }
                const float inv = 1.0f / danlu_exp_sum(row, kc, peak);
                for (long j = 0; j < kc; j++) row[j] *= inv;
              }
      \(sums)\
            }
          }
      """, claims: 1)
  }
}
