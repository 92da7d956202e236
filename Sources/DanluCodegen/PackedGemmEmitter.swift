import DanluIR

/// C for `pack_panels` and for the matmuls and convolutions that read it (`PackedPanels`): a weight packed once at
/// load time, then per run up to 12 rows of the left side (a matmul's rows, a convolution's output positions in its
/// im2col) by one 32-wide panel at a time in registers (24 vector accumulators; each step of k loads the panel's two
/// vectors and broadcasts one element of each row), with the fused epilogue applied to the block while it is in L1.
/// Rows go in groups that stay in L2 while every panel of a thread's share passes over them. On the encoder layer's
/// shapes (standalone C, two threads) this ran 370–414 GFLOP/s against OpenBLAS's 290–360, which repacks the weight
/// on every call.
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

  /// Rows of the left side per group (`blocks`): as many 12-row blocks as keep the group under `groupFloats`.
  static func groupRows(depth k: Int) -> Int {
    let block = PackedPanels.blockRows
    return max(block, PackedPanels.groupFloats / max(1, k) / block * block)
  }

  /// The groups of rows `blocks` walks for `m` rows of depth `k`: the claim counters its region needs.
  static func groups(m: Int, k: Int) -> Int { (m + groupRows(depth: k) - 1) / groupRows(depth: k) }

  /// A part's panels of the weight `w` against `m` rows of `a` in groups that stay in L2: `aRow`/`aDepth` the strides
  /// of `a`, `yBlock` the C expression of the output block at row m0 and column n0 with strides `yRow`/`yColumn`,
  /// then `epilogue` on that block (rows m0..<m0+rows, columns n0..<n0+width). Per group the parts claim panels as
  /// they go (`danlu_claim_item` on `claims[gi]`: each its own half first, so the same panels as the group before),
  /// so that a thread the machine slows hands its last panels to the other instead of keeping it waiting.
  /// `counters` is the C expression of the first group's counter, nil for fixed halves (one part, or a convolution
  /// over several images).
  static func blocks(m: Int, n: Int, k: Int, aRow: String, aDepth: String, yBlock: String, yRow: String, yColumn: String,
                     epilogue: String, counters: String?) -> String {
    let (width, block) = (PackedPanels.width, PackedPanels.blockRows)
    let panels = (n + width - 1) / width
    let group = groupRows(depth: k)
    let panelLoop = counters.map { base in
      let claim = "danlu_claim_item(\(base) + gi, part, \(panels))"
      return "long p = \(claim); p >= 0; p = \(claim)"
    } ?? "long p = part * \(panels) / parts; p < (part + 1) * \(panels) / parts; p++"
    return """
        for (long g0 = 0, gi = 0; g0 < \(m); g0 += \(group), gi++) {
          const long g1 = g0 + \(group) < \(m) ? g0 + \(group) : \(m);
          (void)gi;
          for (\(panelLoop)) {
            const long n0 = p * \(width), width = \(n) - n0 < \(width) ? \(n) - n0 : \(width);
            const float *panel = w + n0 * \(k);
            /* As many blocks as 12-row blocks would need, of even sizes (49 rows: 10, 10, 10, 10, 9; not 4 x 12 + 1). */
            const long blocks = (g1 - g0 + \(block - 1)) / \(block);
            for (long b = 0; b < blocks; b++) {
              const long m0 = g0 + b * (g1 - g0) / blocks;
              const int rows = (int)(g0 + (b + 1) * (g1 - g0) / blocks - m0);
              danlu_panel_block(a + m0 * \(aRow), \(aRow), \(aDepth), panel, width, \(k), \(yBlock), \(yRow), \(yColumn), rows);
      \(epilogue)\
            }
          }
        }

      """
  }

  /// `y` = `a` · `w`ᵀ from the packed `w` for `m` rows, `n` columns, depth `k`, each block followed by `steps` (the
  /// epilogue's statements on `v` at `idx`, column `c`; empty for a plain matmul), on `parts` threads by panels.
  static func gemm(_ a: String, _ packed: String, m: Int, n: Int, k: Int, parts: Int, steps: String) -> String {
    let epilogue = steps.isEmpty ? ""
      : FusedKernelEmitter.matmulEpilogue(rows: ("m0", "m0 + rows"), columns: ("n0", "n0 + width"), n: n, steps: steps)
    // Claimed panels wherever rows share them between threads (a single row keeps fixed halves: `vector`).
    let claims = m > 1 && parts > 1 ? groups(m: m, k: k) : 0
    let body = m == 1 ? vector(n: n, k: k, epilogue: epilogue)
      : blocks(m: m, n: n, k: k, aRow: "\(k)", aDepth: "1", yBlock: "y + m0 * \(n) + n0", yRow: "\(n)", yColumn: "1",
               epilogue: epilogue, counters: claims > 0 ? "claims" : nil)
    // A single row's panels go forwards and backwards on alternate calls: what a part read last is still in its L2
    // when the next call starts there (its share, 1 MB for the MLP, is about the L2's size).
    let direction = m == 1 ? "  static unsigned calls = 0;\n  const int backwards = __atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED) & 1;\n" : ""
    return "  const float *a = \(a), *w = \(packed);\n" + direction + region(parts, body, claims: claims)
  }

  /// A part's panels against a single row (`danlu_panel_vector`), each followed by `epilogue` on its columns
  /// n0..<n0+width (row m0 = 0 of 1), in the order `backwards` says. The part always takes the same panels, so they
  /// stay in its core's L2.
  static func vector(n: Int, k: Int, epilogue: String) -> String {
    let width = PackedPanels.width
    let panels = (n + width - 1) / width
    return """
        const long p0 = part * \(panels) / parts, p1 = (part + 1) * \(panels) / parts, m0 = 0;
        const int rows = 1;
        (void)m0; (void)rows;
        for (long q = p0; q < p1; q++) {
          const long p = backwards ? p0 + p1 - 1 - q : q;
          const long n0 = p * \(width), width = \(n) - n0 < \(width) ? \(n) - n0 : \(width);
          danlu_panel_vector(a, w + n0 * \(k), width, \(k), y + n0);
      \(epilogue)\
        }

      """
  }

  /// A convolution with packed filters (`Graph.packedConvolution`), image by image: both threads fill their share of
  /// the input channels' im2col rows (a 1×1 stride-1 convolution reads the input itself), meet, and each multiplies
  /// its panels of filters, with the epilogue (`steps`, at channel `c`, flat index `idx`) on each block; they meet
  /// again before the next image's im2col overwrites the shared one.
  static func conv2d(_ x: String, _ packed: String, _ sx: [Int], _ sw: [Int], _ out: [Int], _ a: Conv2dAttributes, _ y: String,
                     scratch: String, parts: Int, steps: String?, inputBlocked: Bool = false) -> String {
    let geometry = ConvGeometry(x: sx, weight: sw, y: out, groups: 1, inputBlocked: inputBlocked)
    let (c, o, k, spatial) = (geometry.c, geometry.o, geometry.k, geometry.spatial)
    let pointwise = a.isPointwise(kernel: [geometry.kh, geometry.kw])
    let epilogue = steps.map { convolutionEpilogue(o: o, spatial: spatial, steps: $0) } ?? ""
    var body = """
        for (long n = 0; n < \(geometry.n); n++) {
          const float *xin = x + n * \(c * geometry.h * geometry.w);

      """
    body += geometry.sharedColumns(a, scratch: scratch) + "    const float *a = cols;\n"
    // Claimed panels on a lone image (the only batch `pack-weights` packs a GEMM convolution's filters for).
    let claims = parts > 1 && geometry.n == 1 ? groups(m: spatial, k: k) : 0
    body += blocks(m: spatial, n: o, k: k, aRow: "1", aDepth: "\(spatial)", yBlock: "y + (n * \(o) + n0) * \(spatial) + m0",
                   yRow: "1", yColumn: "\(spatial)", epilogue: epilogue, counters: claims > 0 ? "claims" : nil)
    body += pointwise ? "  }\n" : "    #pragma omp barrier  /* the next image's im2col reuses cols */\n  }\n"
    return "  const float *restrict x = \(x), *w = \(packed);\n" + y + region(parts, body, claims: claims)
  }

  /// The fused epilogue (`steps`) over a block just written to a convolution's NCHW output: channels n0..<n0+width,
  /// positions m0..<m0+rows of image n.
  static func convolutionEpilogue(o: Int, spatial: Int, steps: String) -> String {
    """
              for (long c = n0; c < n0 + width; c++)
                for (long i = m0; i < m0 + rows; i++) {
                  const long idx = (n * \(o) + c) * \(spatial) + i;
    \(ConvLayouts.declarations(steps, o: o, spatial: spatial, indent: 12))\
                  float v = y[idx];
        \(steps)
                  y[idx] = v;
                }

    """
  }

  /// `body` in an OpenMP region of `parts` threads, or as the one part.
  static func region(_ parts: Int, _ body: String, claims: Int = 0) -> String {
    parts > 1 ? KernelEmitter.inParts(parts, body, claims: claims) : "  {\n  const long part = 0, parts = 1;\n" + body + "  }\n"
  }
}
