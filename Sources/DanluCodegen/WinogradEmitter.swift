import DanluIR

/// Winograd F(2×2, 3×3) convolution (Lavin & Gray, 2015): per image, each 4×4 input tile d becomes V = Bᵀ d B, each
/// 3×3 kernel g becomes U = G g Gᵀ, the 16 element positions are 16 GEMMs M[k] = U[k] · V[k] (O×I by I×T), and each
/// 2×2 output tile is Aᵀ M A. The fused epilogue runs on every output value as it is written.
///
/// Both tile transforms run along a row of tiles with no branches, so that the C compiler vectorizes them: the input
/// plane is first copied into a zero-bordered one (`P`, whose border is zeroed once), and a ragged last output column
/// is written by its own loop.
enum WinogradEmitter {
  static func conv2d(_ x: String, _ w: String, _ sx: [Int], _ sw: [Int], _ out: [Int], padding: [Int], _ y: String,
                     scratch: String, steps: String?) -> String {
    let (n, c, h, wd) = (sx[0], sx[1], sx[2], sx[3])
    let o = sw[0]
    let (oh, ow) = (out[2], out[3])
    let (th, tw) = ((oh + 1) / 2, (ow + 1) / 2)
    let t = th * tw
    let pw = Graph.winogradPaddedWidth(ow)
    return "  const float *restrict x = \(x), *restrict w = \(w);\n" + y + """
        float *U = \(scratch), *V = U + 16 * \(o * c), *M = V + 16 * \(c * t), *P = M + 16 * \(o * t);
        /* U[k][o][i] = (G g Gᵀ)[k] with G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]. */
        for (long oi = 0; oi < \(o * c); oi++) {
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
            for (int s = 0; s < 4; s++) U[(r * 4 + s) * \(o * c) + oi] = u[s];
          }
        }
        memset(P, 0, sizeof(float) * \(Graph.winogradPaddedHeight(oh) * pw));
        for (long n = 0; n < \(n); n++) {
          /* V[k][i][t] = (Bᵀ d B)[k] with Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]: each row of the tile
             first (h0…h3), then the rows combined. */
          for (long ic = 0; ic < \(c); ic++) {
            const float *plane = x + (n * \(c) + ic) * \(h * wd);
            for (long iy = 0; iy < \(h); iy++)
              memcpy(P + (iy + \(padding[0])) * \(pw) + \(padding[1]), plane + iy * \(wd), sizeof(float) * \(wd));
            for (long ty = 0; ty < \(th); ty++) {
              const float *d0 = P + 2 * ty * \(pw), *d1 = d0 + \(pw), *d2 = d1 + \(pw), *d3 = d2 + \(pw);
              float *v = V + ic * \(t) + ty * \(tw);
              for (long tx = 0; tx < \(tw); tx++) {
                const long q = 2 * tx;
                float h[4][4];
                const float *rows[4] = {d0, d1, d2, d3};
                for (int r = 0; r < 4; r++) {
                  h[r][0] = rows[r][q] - rows[r][q + 2];
                  h[r][1] = rows[r][q + 1] + rows[r][q + 2];
                  h[r][2] = rows[r][q + 2] - rows[r][q + 1];
                  h[r][3] = rows[r][q + 1] - rows[r][q + 3];
                }
                for (int s = 0; s < 4; s++) {
                  v[(0 * 4 + s) * \(c * t) + tx] = h[0][s] - h[2][s];
                  v[(1 * 4 + s) * \(c * t) + tx] = h[1][s] + h[2][s];
                  v[(2 * 4 + s) * \(c * t) + tx] = h[2][s] - h[1][s];
                  v[(3 * 4 + s) * \(c * t) + tx] = h[1][s] - h[3][s];
                }
              }
            }
          }
          for (int k = 0; k < 16; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, \(o), \(t), \(c), 1.0f, U + k * \(o * c), \(c),
                        V + k * \(c * t), \(t), 0.0f, M + k * \(o * t), \(t));
          /* Y = Aᵀ M A with Aᵀ = [1 1 1 0; 0 1 -1 -1], then the epilogue on each value. */
          for (long c = 0; c < \(o); c++)
            for (long ty = 0; ty < \(th); ty++) {
              const float *m = M + c * \(t) + ty * \(tw);
              const long base = (n * \(o) + c) * \(oh * ow) + 2 * ty * \(ow);
      \(outputLoop(full: true, ow: ow, oh: oh, o: o, t: t, steps: steps))
      \(ow % 2 == 1 ? outputLoop(full: false, ow: ow, oh: oh, o: o, t: t, steps: steps) : "")
            }
        }

      """
  }

  /// The loop over a row of tiles that applies Aᵀ M A: every whole 2-wide tile, or (`full` false) the last, 1 wide.
  /// The second output row is skipped on the last tile row of an odd-height output.
  static func outputLoop(full: Bool, ow: Int, oh: Int, o: Int, t: Int, steps: String?) -> String {
    func store(_ value: String, row: Int, column: Int) -> String {
      """
                      {
                        const long idx = base + \(row * ow) + 2 * tx + \(column);
                        float v = \(value);
        \(steps ?? "")
                        y[idx] = v;
                      }

        """
    }
    let range = full ? "for (long tx = 0; tx < \(ow / 2); tx++) {" : "for (long tx = \(ow / 2); tx < \((ow + 1) / 2); tx++) {"
    var body = """
                \(range)
                  float p[2][4];
                  for (int s = 0; s < 4; s++) {
                    const float m0 = m[(0 * 4 + s) * \(o * t) + tx], m1 = m[(1 * 4 + s) * \(o * t) + tx];
                    const float m2 = m[(2 * 4 + s) * \(o * t) + tx], m3 = m[(3 * 4 + s) * \(o * t) + tx];
                    p[0][s] = m0 + m1 + m2;
                    p[1][s] = m1 - m2 - m3;
                  }

      """
    body += store("p[0][0] + p[0][1] + p[0][2]", row: 0, column: 0)
    if full { body += store("p[0][1] - p[0][2] - p[0][3]", row: 0, column: 1) }
    body += "              if (2 * ty + 1 < \(oh)) {\n"
    body += store("p[1][0] + p[1][1] + p[1][2]", row: 1, column: 0)
    if full { body += store("p[1][1] - p[1][2] - p[1][3]", row: 1, column: 1) }
    return body + "              }\n            }\n"
  }
}
