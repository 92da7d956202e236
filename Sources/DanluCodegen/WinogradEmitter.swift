import DanluIR

/// Winograd F(2×2, 3×3) convolution (Lavin & Gray, 2015): each 4×4 input tile d becomes V = Bᵀ d B, each 3×3 kernel
/// g becomes U = G g Gᵀ, the 16 element positions are 16 GEMMs M[k] = U[k] · V[k] (O×I by I×columns) over a work
/// item — a group of images whose tiles sit side by side, or a block of a lone group's tile rows (`WinogradTiling`),
/// one per thread — and each 2×2 output tile is Aᵀ M A. The fused epilogue runs on every output value as it is
/// written.
///
/// Both tile transforms are unit-stride loops along a row of tiles, which the C compiler turns into vector code: each
/// input plane is copied once into a zero-bordered one split into its even and odd columns (`Pe`, `Po`), so that
/// tile tx reads columns tx and tx + 1 of each half, and the output transform writes a row pair of outputs into a
/// small buffer that the epilogue then walks in order. (Reading the tiles at stride 2 from one plane left gcc 12 with
/// scalar code, and gcc ignores `restrict` on these block-scope pointers, hence `#pragma GCC ivdep`: without it
/// the 16 stores into V needed more run-time alias checks than it makes, and the transforms took 70% of the
/// convolution.)
enum WinogradEmitter {
  static func conv2d(_ x: String, _ w: String, _ sx: [Int], _ sw: [Int], _ out: [Int], padding: [Int], _ y: String,
                     scratch: String, steps: String?) -> String {
    let (n, c, h, wd) = (sx[0], sx[1], sx[2], sx[3])
    let o = sw[0]
    let (oh, ow) = (out[2], out[3])
    let (th, tw) = ((oh + 1) / 2, (ow + 1) / 2)
    let tiling = WinogradTiling(weight: sw, output: out)
    let cols = tiling.itemColumns
    // Both transforms run over `wide` tiles per row, a whole number of 16-float vectors (gcc 12 leaves a loop's
    // remainder scalar, which took most of the time at 28 tiles); the extra tiles read and write only scratch.
    let wide = (tw + 15) / 16 * 16
    // Each half-plane row has wide + 1 columns; padded column q = ix + padding lands in half q % 2 at q / 2.
    let half = Graph.winogradHalfWidth(ow)
    let (top, left) = (padding[0], padding[1])
    let evenFrom = (left + 1) / 2, evenTo = (wd - 1 + left) / 2  // Pe[j] = row[2j − left]
    let oddFrom = left / 2, oddTo = (wd - 2 + left) / 2           // Po[j] = row[2j + 1 − left]
    return "  const float *restrict x = \(x), *restrict w = \(w);\n" + y + """
        float *U = \(scratch);
        /* Work items (a group of images, or one of its blocks of tile rows) on `parts` threads, each with its own
           tiles and single-threaded GEMMs; an item's tiles are `per` per image, from tile row ty0. */
      """ + KernelEmitter.inParts(tiling.parts, """
        /* U[k][o][i] = (G g Gᵀ)[k] with G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1], each part a share of the filters, then
           both meet (on one thread, before the region, ResNet-18's layer1 convolutions took 8–9% longer at batch 1). */
        for (long oi = part * \(o * c) / parts; oi < (part + 1) * \(o * c) / parts; oi++) {
      \(filterTransform(into: "U[(r * 4 + s) * \(o * c) + oi]"))
        }
        #pragma omp barrier
        float *V = U + \(16 * o * c) + part * \(tiling.partFloats(weight: sw, output: out)), *M = V + \(16 * c * cols);
        float *Pe = M + \(16 * o * cols), *Po = Pe + \(Graph.winogradPaddedHeight(oh) * half);
        memset(Pe, 0, sizeof(float) * \(2 * Graph.winogradPaddedHeight(oh) * half));
        for (long item = part; item < \(tiling.groups * tiling.rowBlocks); item += parts) {
          const long n0 = item / \(tiling.rowBlocks) * \(tiling.images), block = item % \(tiling.rowBlocks);
          const long count = n0 + \(tiling.images) <= \(n) ? \(tiling.images) : \(n) - n0;
          const long ty0 = block * \(th) / \(tiling.rowBlocks), ty1 = (block + 1) * \(th) / \(tiling.rowBlocks);
          const long per = (ty1 - ty0) * \(tw);
          /* The input rows those tile rows read (padded rows 2·ty0 … 2·ty1 + 1). */
          const long iy0 = 2 * ty0 - \(top) > 0 ? 2 * ty0 - \(top) : 0;
          const long iy1 = 2 * ty1 + \(2 - top) < \(h) ? 2 * ty1 + \(2 - top) : \(h);
          /* V[k][i][b·per + t] = (Bᵀ d B)[k] with Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]: the tile's rows
             combined first (r0…r3, on even and odd columns alike), then the columns of each combination. */
          for (long b = 0; b < count; b++)
            for (long ic = 0; ic < \(c); ic++) {
              const float *plane = x + ((n0 + b) * \(c) + ic) * \(h * wd);
              for (long iy = iy0; iy < iy1; iy++) {
                const float *restrict src = plane + iy * \(wd);
                float *restrict pe = Pe + (iy + \(top)) * \(half), *restrict po = Po + (iy + \(top)) * \(half);
      #pragma GCC ivdep
                for (long j = \(evenFrom); j <= \(evenTo); j++) pe[j] = src[2 * j - \(left)];
      #pragma GCC ivdep
                for (long j = \(oddFrom); j <= \(oddTo); j++) po[j] = src[2 * j + \(1 - left)];
              }
              for (long ty = ty0; ty < ty1; ty++) {
                const float *restrict e0 = Pe + 2 * ty * \(half), *restrict e1 = e0 + \(half);
                const float *restrict e2 = e1 + \(half), *restrict e3 = e2 + \(half);
                const float *restrict o0 = Po + 2 * ty * \(half), *restrict o1 = o0 + \(half);
                const float *restrict o2 = o1 + \(half), *restrict o3 = o2 + \(half);
                float row[16][\(wide)];
                float *restrict v = V + ic * \(cols) + b * per + (ty - ty0) * \(tw);
      #pragma GCC ivdep
                for (long tx = 0; tx < \(wide); tx++) {
      \(inputRows())
                }
                for (int k = 0; k < 16; k++) memcpy(v + k * \(c * cols), row[k], sizeof(float) * \(tw));
              }
            }

          for (int k = 0; k < 16; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, \(o), count * per, \(c), 1.0f, U + k * \(o * c), \(c),
                        V + k * \(c * cols), \(cols), 0.0f, M + k * \(o * cols), \(cols));
          /* Y = Aᵀ M A with Aᵀ = [1 1 1 0; 0 1 -1 -1] into a row pair, then the epilogue on each value in order. */
          for (long b = 0; b < count; b++)
            for (long c = 0; c < \(o); c++)
              for (long ty = ty0; ty < ty1; ty++) {
                const float *restrict m = M + c * \(cols) + b * per + (ty - ty0) * \(tw);
                float pair[2][\(2 * wide)];
      #pragma GCC ivdep
                for (long tx = 0; tx < \(wide); tx++) {
      \(outputTile(stride: o * cols))
                }
                for (int r = 0; r < 2 && 2 * ty + r < \(oh); r++) {
                  const long base = ((n0 + b) * \(o) + c) * \(oh * ow) + (2 * ty + r) * \(ow);
                  for (long i = 0; i < \(ow); i++) {
                    const long idx = base + i;
                    float v = pair[r][i];
      \(steps ?? "")
                    y[idx] = v;
                  }
                }
              }
        }
      """)
  }

  /// C for filter `oi` (the 3×3 at w + 9·oi): U = G g Gᵀ with G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1], G g first (`a`),
  /// then each of its rows by Gᵀ; element (r, s) of U goes to `target`, a C lvalue of r and s.
  static func filterTransform(into target: String) -> String {
    """
        const float *g = w + oi * 9;
        float a[4][3];
        for (int j = 0; j < 3; j++) {
          a[0][j] = g[j];
          a[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
          a[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
          a[3][j] = g[6 + j];
        }
        for (int r = 0; r < 4; r++) {
          const float u[4] = {a[r][0], 0.5f * (a[r][0] + a[r][1] + a[r][2]), 0.5f * (a[r][0] - a[r][1] + a[r][2]), a[r][2]};
          for (int s = 0; s < 4; s++) \(target) = u[s];
        }
    """
  }

  /// The body of the input transform for tile tx: the four row combinations of the even (E) and odd (O) columns at
  /// tx and tx + 1, then Bᵀ along the columns, into the 16 rows of `row`.
  static func inputRows() -> String {
    let rows = [("e0", "-", "e2"), ("e1", "+", "e2"), ("e2", "-", "e1"), ("e1", "-", "e3")]
    var body = ""
    for (r, (a, op, b)) in rows.enumerated() {
      let (oa, ob) = ("o" + a.dropFirst(), "o" + b.dropFirst())
      body += """
                    {
                      const float Ea = \(a)[tx] \(op) \(b)[tx], Eb = \(a)[tx + 1] \(op) \(b)[tx + 1];
                      const float Oa = \(oa)[tx] \(op) \(ob)[tx], Ob = \(oa)[tx + 1] \(op) \(ob)[tx + 1];
                      row[\(r * 4 + 0)][tx] = Ea - Eb;
                      row[\(r * 4 + 1)][tx] = Oa + Eb;
                      row[\(r * 4 + 2)][tx] = Eb - Oa;
                      row[\(r * 4 + 3)][tx] = Oa - Ob;
                    }

        """
    }
    return body
  }

  /// The body of the output transform for tile tx: Aᵀ M A from the 16 planes of M (`stride` floats apart) into
  /// columns 2·tx and 2·tx + 1 of the row pair.
  static func outputTile(stride: Int) -> String {
    var body = ""
    for s in 0..<4 {
      body += "              const float m0\(s) = m[\(s) * \(stride) + tx], m1\(s) = m[\(4 + s) * \(stride) + tx], "
        + "m2\(s) = m[\(8 + s) * \(stride) + tx], m3\(s) = m[\(12 + s) * \(stride) + tx];\n"
      body += "              const float p0\(s) = m0\(s) + m1\(s) + m2\(s), p1\(s) = m1\(s) - m2\(s) - m3\(s);\n"
    }
    for r in 0..<2 {
      body += "              pair[\(r)][2 * tx] = p\(r)0 + p\(r)1 + p\(r)2;\n"
      body += "              pair[\(r)][2 * tx + 1] = p\(r)1 - p\(r)2 - p\(r)3;\n"
    }
    return body
  }
}
