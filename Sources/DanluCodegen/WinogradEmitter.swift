import DanluIR

/// Winograd F(2×2, 3×3) convolution (Lavin & Gray, 2015): per image, each 4×4 input tile d becomes V = Bᵀ d B, each
/// 3×3 kernel g becomes U = G g Gᵀ, the 16 element positions are 16 GEMMs M[k] = U[k] · V[k] (O×I by I×T), and each
/// 2×2 output tile is Aᵀ M A. The fused epilogue runs on every output value as it is written.
enum WinogradEmitter {
  static func conv2d(_ x: String, _ w: String, _ sx: [Int], _ sw: [Int], _ out: [Int], padding: [Int], _ y: String,
                     scratch: String, steps: String?) -> String {
    let (n, c, h, wd) = (sx[0], sx[1], sx[2], sx[3])
    let o = sw[0]
    let (oh, ow) = (out[2], out[3])
    let (th, tw) = ((oh + 1) / 2, (ow + 1) / 2)
    let t = th * tw
    return "  const float *restrict x = \(x), *restrict w = \(w);\n" + y + """
        float *U = \(scratch), *V = U + 16 * \(o * c), *M = V + 16 * \(c * t);
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
        for (long n = 0; n < \(n); n++) {
          /* V[k][i][t] = (Bᵀ d B)[k] with Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], d zero outside the input. */
          for (long ic = 0; ic < \(c); ic++) {
            const float *plane = x + (n * \(c) + ic) * \(h * wd);
            for (long ty = 0; ty < \(th); ty++)
              for (long tx = 0; tx < \(tw); tx++) {
                float d[4][4];
                for (int r = 0; r < 4; r++) {
                  const long iy = ty * 2 - \(padding[0]) + r;
                  for (int s = 0; s < 4; s++) {
                    const long ix = tx * 2 - \(padding[1]) + s;
                    d[r][s] = (iy >= 0 && iy < \(h) && ix >= 0 && ix < \(wd)) ? plane[iy * \(wd) + ix] : 0.0f;
                  }
                }
                float b[4][4];
                for (int s = 0; s < 4; s++) {
                  b[0][s] = d[0][s] - d[2][s];
                  b[1][s] = d[1][s] + d[2][s];
                  b[2][s] = d[2][s] - d[1][s];
                  b[3][s] = d[1][s] - d[3][s];
                }
                const long tile = ty * \(tw) + tx;
                for (int r = 0; r < 4; r++) {
                  const float v[4] = {b[r][0] - b[r][2], b[r][1] + b[r][2], b[r][2] - b[r][1], b[r][1] - b[r][3]};
                  for (int s = 0; s < 4; s++) V[((r * 4 + s) * \(c) + ic) * \(t) + tile] = v[s];
                }
              }
          }
          for (int k = 0; k < 16; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, \(o), \(t), \(c), 1.0f, U + k * \(o * c), \(c),
                        V + k * \(c * t), \(t), 0.0f, M + k * \(o * t), \(t));
          /* Y = Aᵀ M A with Aᵀ = [1 1 1 0; 0 1 -1 -1], then the epilogue on each value. */
          for (long c = 0; c < \(o); c++)
            for (long ty = 0; ty < \(th); ty++)
              for (long tx = 0; tx < \(tw); tx++) {
                const long tile = ty * \(tw) + tx;
                float m[4][4], p[2][4];
                for (int k = 0; k < 16; k++) m[k / 4][k % 4] = M[(k * \(o) + c) * \(t) + tile];
                for (int s = 0; s < 4; s++) {
                  p[0][s] = m[0][s] + m[1][s] + m[2][s];
                  p[1][s] = m[1][s] - m[2][s] - m[3][s];
                }
                for (int r = 0; r < 2; r++) {
                  const float q[2] = {p[r][0] + p[r][1] + p[r][2], p[r][1] - p[r][2] - p[r][3]};
                  const long oy = ty * 2 + r;
                  if (oy >= \(oh)) continue;
                  for (int s = 0; s < 2; s++) {
                    const long ox = tx * 2 + s;
                    if (ox >= \(ow)) continue;
                    const long idx = ((n * \(o) + c) * \(oh) + oy) * \(ow) + ox;
                    float v = q[s];
      \(steps ?? "")
                    y[idx] = v;
                  }
                }
              }
        }

      """
  }
}
