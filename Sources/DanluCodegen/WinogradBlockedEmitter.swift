import DanluIR

/// Winograd F(2×2, 3×3) of one image's tiles in items of whole tile rows (`WinogradBlocks`): per item the input
/// transform of every channel into V[16][I][tiles], the 16 products M[k] = U[k] · V[k] on the panel kernel
/// (`danlu_panel_block`: up to 12 tiles by one 32-wide panel of U[k], whose rows are the output channels), and the
/// output transform with the fused epilogue. U comes transformed and packed from `pack_panels` (`pack`). The
/// transforms are `WinogradEmitter`'s: the same even and odd column halves, here of the item's four padded input rows
/// of one channel at a time.
enum WinogradBlockedEmitter {
  /// `y` = U[k] (k = 4r + s of the 4×4 tile) of the filters `w` [O, I, 3, 3], each matrix O×I in 32-wide panels as
  /// `PackedGemmEmitter.pack` stores a weight: U[k] starts at k·O·I, its panel p at 32p·I, row i of it holds the
  /// panel's (up to 32) output channels.
  static func pack(_ w: String, _ blocks: WinogradBlocks, _ y: String) -> String {
    let (o, c) = (blocks.outputChannels, blocks.inputChannels)
    return "  const float *w = \(w);\n" + y + """
        for (long oi = 0; oi < \(o * c); oi++) {
          const long o = oi / \(c), i = oi % \(c), n0 = o / 32 * 32, width = \(o) - n0 < 32 ? \(o) - n0 : 32;
      \(WinogradEmitter.filterTransform(into: "y[(r * 4 + s) * \(o * c) + n0 * \(c) + i * width + (o - n0)]"))
        }

      """
  }

  static func conv2d(_ x: String, _ u: String, _ sx: [Int], _ out: [Int], padding: [Int], _ y: String, scratch: String,
                     steps: String?, blocks: WinogradBlocks) -> String {
    let (h, wd) = (sx[2], sx[3])
    let (c, o) = (blocks.inputChannels, blocks.outputChannels)
    let (oh, ow) = (out[2], out[3])
    let (th, tw) = (blocks.tileRows, blocks.tileColumns)
    let tiles = blocks.itemTiles
    let wide = (tw + 15) / 16 * 16
    let half = Graph.winogradHalfWidth(2 * tw)
    let (top, left) = (padding[0], padding[1])
    let evenFrom = (left + 1) / 2, evenTo = (wd - 1 + left) / 2  // Pe[j] = row[2j − left]
    let oddFrom = left / 2, oddTo = (wd - 2 + left) / 2           // Po[j] = row[2j + 1 − left]
    let block = PackedPanels.blockRows
    return "  const float *restrict x = \(x), *restrict U = \(u);\n" + y + KernelEmitter.inParts(blocks.parts, """
        float *V = \(scratch) + part * \(blocks.partFloats), *M = V + \(16 * c * tiles);
        float *Pe = M + \(16 * o * tiles), *Po = Pe + \(4 * half);
        /* Columns outside the input stay zero: every row below writes the same ones. */
        memset(Pe, 0, sizeof(float) * \(8 * half));
        for (long item = danlu_claim_item(claims, part, \(blocks.items)); item >= 0;
             item = danlu_claim_item(claims, part, \(blocks.items))) {
          const long n = item / \(blocks.itemsPerImage), ty0 = item % \(blocks.itemsPerImage) * \(blocks.rowsPerItem);
          const long ty1 = ty0 + \(blocks.rowsPerItem) < \(th) ? ty0 + \(blocks.rowsPerItem) : \(th), count = (ty1 - ty0) * \(tw);
          /* V[k][i][t] = (Bᵀ d B)[k] with Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], tile t of the item. */
          for (long ic = 0; ic < \(c); ic++) {
            const float *plane = x + (n * \(c) + ic) * \(h * wd);
            for (long ty = ty0; ty < ty1; ty++) {
              /* Padded rows 2·ty … 2·ty + 3, input rows 2·ty − \(top) …. */
              for (int r = 0; r < 4; r++) {
                const long iy = 2 * ty + r - \(top);
                float *restrict pe = Pe + r * \(half), *restrict po = Po + r * \(half);
                if (iy < 0 || iy >= \(h)) {
                  memset(pe, 0, sizeof(float) * \(half));
                  memset(po, 0, sizeof(float) * \(half));
                  continue;
                }
                const float *restrict src = plane + iy * \(wd);
      #pragma GCC ivdep
                for (long j = \(evenFrom); j <= \(evenTo); j++) pe[j] = src[2 * j - \(left)];
      #pragma GCC ivdep
                for (long j = \(oddFrom); j <= \(oddTo); j++) po[j] = src[2 * j + \(1 - left)];
              }
              const float *restrict e0 = Pe, *restrict e1 = Pe + \(half), *restrict e2 = Pe + \(2 * half), *restrict e3 = Pe + \(3 * half);
              const float *restrict o0 = Po, *restrict o1 = Po + \(half), *restrict o2 = Po + \(2 * half), *restrict o3 = Po + \(3 * half);
              float row[16][\(wide)];
      #pragma GCC ivdep
              for (long tx = 0; tx < \(wide); tx++) {
      \(WinogradEmitter.inputRows())
              }
              float *restrict v = V + ic * \(tiles) + (ty - ty0) * \(tw);
              for (int k = 0; k < 16; k++) memcpy(v + k * \(c * tiles), row[k], sizeof(float) * \(tw));
            }
          }
          /* M[k][o][t] = U[k] · V[k], up to \(block) tiles by one panel at a time, in even blocks. */
          const long blocks = (count + \(block - 1)) / \(block);
          for (int k = 0; k < 16; k++)
            for (long n0 = 0; n0 < \(o); n0 += 32) {
              const long width = \(o) - n0 < 32 ? \(o) - n0 : 32;
              for (long b = 0; b < blocks; b++) {
                const long t0 = b * count / blocks;
                const int rows = (int)((b + 1) * count / blocks - t0);
                danlu_panel_block(V + k * \(c * tiles) + t0, 1, \(tiles), U + k * \(o * c) + n0 * \(c), width, \(c),
                                  M + (k * \(o) + n0) * \(tiles) + t0, 1, \(tiles), rows);
              }
            }
          /* Y = Aᵀ M A with Aᵀ = [1 1 1 0; 0 1 -1 -1] into a row pair, then the epilogue on each value in order. */
          for (long c = 0; c < \(o); c++)
            for (long ty = ty0; ty < ty1; ty++) {
              const float *restrict m = M + c * \(tiles) + (ty - ty0) * \(tw);
              float pair[2][\(2 * wide)];
      #pragma GCC ivdep
              for (long tx = 0; tx < \(tw); tx++) {
      \(WinogradEmitter.outputTile(stride: o * tiles))
              }
              for (int r = 0; r < 2 && 2 * ty + r < \(oh); r++) {
                const long base = ((n * \(o) + c) * \(oh) + 2 * ty + r) * \(ow);
                for (long i = 0; i < \(ow); i++) {
                  const long idx = base + i;
                  float v = pair[r][i];
      \(steps ?? "")
                  y[idx] = v;
                }
              }
            }
        }
      """, claims: 1)
  }
}
