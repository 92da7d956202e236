import DanluIR

/// The C of a direct convolution (`DirectConvolution`): per image and group, the input copied into a zero-bordered
/// plane, then for each block of output channels and output row, chunks of 16·V columns accumulated in registers,
/// tap by tap (one load of the shifted row, one broadcast multiply-add per channel), and stored through the fused
/// epilogue while the chunk is in cache.
enum DirectConvolutionEmitter {
  /// `steps` are the fused epilogue statements on `v` (channel `c`, flat index `idx`).
  static func conv2d(_ x: String, _ w: String, _ sx: [Int], _ sw: [Int], _ out: [Int], _ a: Conv2dAttributes,
                     _ y: String, scratch: String, steps: String?, filters: Bool,
                     layouts: ConvLayouts = .plain) -> String {
    if filters { return byFilters(x, w, sx, sw, out, a, y, scratch: scratch, steps: steps, layouts: layouts) }
    let plan = DirectConvolution(input: sx, weight: sw, output: out, attributes: a)
    let geometry = ConvGeometry(x: sx, weight: sw, y: out, groups: a.groups)
    let (o, og, cg, k) = (geometry.o, geometry.og, geometry.cg, geometry.k)
    let (oh, ow, kh, kw) = (geometry.oh, geometry.ow, geometry.kh, geometry.kw)
    let (block, vectors, stride, height) = (plan.outputBlock, plan.vectors, plan.rowStride, plan.paddedHeight)
    let chunk = 16 * vectors, items = og / block * oh
    // Without AVX-512, the most filters of the block (a divisor of it) whose 2·vectors accumulators fit 12.
    let sub = (1...block).last { block % $0 == 0 && $0 * 2 * vectors <= 12 } ?? 1
    let threaded = plan.parts > 1
    let (images, itemLoop) = walk(plan, batch: geometry.n, items: items)
    // The block's sums into `lanes`, `filters` of them at a time in vectors of `lanes` floats (all of the block with
    // 16 floats a register; without AVX-512, `sub` at a time so that the accumulators fit its 16 registers).
    func tile(lanes: Int, filters: Int) -> String {
      let (v, vs) = ("danlu_v\(lanes)f", chunk / lanes)
      return """
              for (long b0 = 0; b0 < \(block); b0 += \(filters)) {
                \(v) acc[\(filters)][\(vs)];
                for (long b = 0; b < \(filters); b++)
                  for (long j = 0; j < \(vs); j++) acc[b][j] = (\(v)){0};
                for (long ic = 0; ic < \(cg); ic++)
                  for (long ky = 0; ky < \(kh); ky++) {
                    const float *src = plane + (ic * \(height) + oy * \(a.stride[0]) + ky * \(a.dilation[0])) * \(stride) + ox0;
                    const float *tap = filters + b0 * \(k) + (ic * \(kh) + ky) * \(kw);
                    for (long kx = 0; kx < \(kw); kx++) {
                      \(v) in[\(vs)];
                      for (long j = 0; j < \(vs); j++) in[j] = danlu_load\(lanes)(src + kx * \(a.dilation[1]) + \(lanes) * j);
                      #pragma GCC unroll 16
                      for (long b = 0; b < \(filters); b++) {
                        const \(v) weight = danlu_splat\(lanes)(tap[b * \(k) + kx]);
                        #pragma GCC unroll 4
                        for (long j = 0; j < \(vs); j++) acc[b][j] = danlu_fma\(lanes)(in[j], weight, acc[b][j]);
                      }
                    }
                  }
                for (long b = 0; b < \(filters); b++)
                  for (long j = 0; j < \(vs); j++) danlu_store\(lanes)(lanes[b0 + b] + \(lanes) * j, acc[b][j]);
              }

        """
    }
    // The epilogue's statements (indented for a kernel's body) at the depth of the store loop.
    let epilogue = (steps ?? "").split(separator: "\n", omittingEmptySubsequences: false)
      .map { $0.isEmpty ? "" : String(repeating: " ", count: 6) + $0 }.joined(separator: "\n")
    let body = """
        float *plane = \(plane(plan, scratch));
        for (\(images))
          for (long g = 0; g < \(a.groups); g++) {
      \(fillPlane(plan, geometry, a, indent: 6))
            for (\(itemLoop)) {
              const long ob = item / \(oh) * \(block), oy = item % \(oh);
              const float *filters = w + (g * \(og) + ob) * \(k);
              for (long ox0 = 0; ox0 < \(ow); ox0 += \(chunk)) {
                float lanes[\(block)][\(chunk)];
          #if DANLU_REGISTER_FLOATS == 16
      \(tile(lanes: 16, filters: block))\
          #else
      \(tile(lanes: 8, filters: sub))\
          #endif
                const long count = \(ow) - ox0 < \(chunk) ? \(ow) - ox0 : \(chunk);
                for (long b = 0; b < \(block); b++) {
                  const long c = g * \(og) + ob + b;
                  float *row = y + ((n * \(o) + c) * \(oh) + oy) * \(ow) + ox0;
                  for (long i = 0; i < count; i++) {
                    const long idx = ((n * \(o) + c) * \(oh) + oy) * \(ow) + ox0 + i;
                    (void)idx;
                    float v = lanes[b][i];
      \(epilogue)
                    row[i] = v;
                  }
                }
              }
            }
          }

      """
    let declarations = "  const float *restrict x = \(x), *restrict w = \(w);\n" + y
    return declarations + (threaded ? KernelEmitter.inParts(plan.parts, body, claims: plan.sharesPlane ? 1 : 0) : body)
  }

  /// By filters (`DirectConvolution.filters`, the weight packed): per image the plane, then for each (panel of 32
  /// filters, output row) item, blocks of up to 12 positions of the row against the panel (`danlu_panel_taps`, each
  /// position's input read from the plane at the tap's offset), the epilogue on each block. With 8 floats a register
  /// (no AVX-512) the items are (panel, up to 60 positions across output rows) instead: ResNet-18 at batch 1 went
  /// 52–63 → 43–46 ms (layer2–3 68 → 91 GFLOP/s), as runs of 6 positions replace the rows' runs of 3 and 4.
  /// A blocked input (`layouts.input`, `Layout.nchw8c`) makes a blocked plane (a position's 8 channels side by side,
  /// the taps' offsets scaled to match); a blocked output takes each block's sums as whole 8-channel vectors.
  static func byFilters(_ x: String, _ w: String, _ sx: [Int], _ sw: [Int], _ out: [Int], _ a: Conv2dAttributes,
                        _ y: String, scratch: String, steps: String?, layouts: ConvLayouts) -> String {
    let plan = DirectConvolution(input: sx, weight: sw, output: out, attributes: a, filters: true)
    let geometry = ConvGeometry(x: sx, weight: sw, y: out, groups: 1, inputBlocked: layouts.input)
    let (o, c, k, spatial) = (geometry.o, geometry.c, geometry.k, geometry.spatial)
    let (oh, ow, kh, kw) = (geometry.oh, geometry.ow, geometry.kh, geometry.kw)
    let (stride, height, width, block) = (plan.rowStride, plan.paddedHeight, PackedPanels.width, PackedPanels.blockRows)
    let items = (o + width - 1) / width * oh
    let threaded = plan.parts > 1
    let (images, itemLoop) = walk(plan, batch: geometry.n, items: items)
    // Floats from one position of the plane to the next, and a block's stores: element (r, l) of a block at
    // y[r + l·spatial] (NCHW) or, blocked, y[r·8 + l / 8·spatial·8 + l % 8] (`yBlock` floats from one 8 to the next).
    let step = layouts.input ? 8 : 1, yBlock = layouts.output ? spatial * 8 : 0
    let blockAt = { (m0: String) in "y + (n * \(o) + n0) * \(spatial) + \(m0)\(layouts.output ? " * 8" : "")" }
    let epilogue = steps.map { steps in
      layouts.output ? blockedEpilogue(o: o, spatial: spatial, steps: steps)
        : PackedGemmEmitter.convolutionEpilogue(o: o, spatial: spatial, steps: steps)
    } ?? ""
    // Per image the plane, then `items` (a loop over a part's items), in a region of the plan's parts.
    func perImage(_ items: String) -> String {
      let body = """
          float *plane = \(plane(plan, scratch));
          for (\(images)) {
            const long g = 0;
        \(fillPlane(plan, geometry, a, indent: 4))
        \(items)\
          }

        """
      return threaded ? KernelEmitter.inParts(plan.parts, body, claims: plan.sharesPlane ? 1 : 0) : body
    }
    let rowItems = """
          for (\(itemLoop)) {
            const long p = item / \(oh), oy = item % \(oh);
            const long n0 = p * \(width), width = \(o) - n0 < \(width) ? \(o) - n0 : \(width);
            const float *panel = w + n0 * \(k), *row = plane + oy * \(a.stride[0] * stride * step);
            /* As many blocks as 12-position blocks would need, of even sizes. */
            const long blocks = (\(ow) + \(block - 1)) / \(block);
            for (long b = 0; b < blocks; b++) {
              const long x0 = b * \(ow) / blocks, m0 = oy * \(ow) + x0;
              const int rows = (int)((b + 1) * \(ow) / blocks - x0);
      \(yBlock == 0 ? """
              danlu_panel_taps(row + x0 * \(a.stride[1] * step), \(a.stride[1] * step), taps, panel, width, \(k),
                               \(blockAt("m0")), 1, \(spatial), rows);
      """ : """
              float sums[\(block)][32];
              danlu_panel_taps(row + x0 * \(a.stride[1] * step), \(a.stride[1] * step), taps, panel, width, \(k),
                               &sums[0][0], 32, 1, rows);
              danlu_sums_store_blocked(sums, width, \(blockAt("m0")), \(yBlock), rows);
      """)
      \(epilogue)\
            }
          }

      """
    // Each tap's offset in the plane from a position's top-left corner, the same for every position.
    let taps = """
        long taps[\(k)];
        for (long ic = 0; ic < \(c); ic++)
          for (long ky = 0; ky < \(kh); ky++)
            for (long kx = 0; kx < \(kw); kx++)
              taps[(ic * \(kh) + ky) * \(kw) + kx] = \(layouts.input
                ? "((ic / 8 * \(height) + ky * \(a.dilation[0])) * \(stride) + kx * \(a.dilation[1])) * 8 + ic % 8"
                : "(ic * \(height) + ky * \(a.dilation[0])) * \(stride) + kx * \(a.dilation[1])");

      """
    // With 8 floats a register, items are (panel, block of up to 60 positions across output rows), each block's
    // positions read through a table of their offsets in the plane (`danlu_panel_gather`).
    let gather = PackedGemmEmitter.gatherRows
    let blocksPerPanel = (spatial + gather - 1) / gather
    let (_, gatherLoop) = walk(plan, batch: geometry.n, items: (o + width - 1) / width * blocksPerPanel)
    let gatheredItems = """
          for (\(gatherLoop)) {
            const long p = item / \(blocksPerPanel), block = item % \(blocksPerPanel);
            const long n0 = p * \(width), width = \(o) - n0 < \(width) ? \(o) - n0 : \(width);
            const long m0 = block * \(spatial) / \(blocksPerPanel);
            const int rows = (int)((block + 1) * \(spatial) / \(blocksPerPanel) - m0);
            long offsets[\(gather)];
            for (int r = 0; r < rows; r++)
              offsets[r] = (m0 + r) / \(ow) * \(a.stride[0] * stride * step) + (m0 + r) % \(ow) * \(a.stride[1] * step);
            danlu_panel_gather(plane, offsets, taps, w + n0 * \(k), width, \(k), \(blockAt("m0")), \(spatial), \(yBlock), rows);
      \(epilogue)\
          }

      """
    let declarations = "  const float *restrict x = \(x), *w = \(w);\n" + y + taps
    return declarations + "#if DANLU_REGISTER_FLOATS == 16\n" + perImage(rowItems) + "#else\n" + perImage(gatheredItems)
      + "#endif\n"
  }

  /// The fused epilogue (`steps`) over a block just written to a blocked output (`Layout.nchw8c`): channels
  /// n0..<n0+width (whole blocks of 8), positions m0..<m0+rows of image n, each position's 8 channels together.
  static func blockedEpilogue(o: Int, spatial: Int, steps: String) -> String {
    """
              for (long c0 = n0; c0 < n0 + width; c0 += 8)
                for (long i = m0; i < m0 + rows; i++) {
                  const long base = (n * \(o) + c0) * \(spatial) + i * 8 - c0;
                  #pragma GCC ivdep
                  for (long c = c0; c < c0 + 8; c++) {
                    const long idx = base + c;
    \(ConvLayouts.declarations(steps, o: o, spatial: spatial, indent: 14))\
                    float v = y[idx];
          \(steps)
                    y[idx] = v;
                  }
                }

    """
  }

  /// Two parts take every other image of a batch, or share a lone image's items; each pads the input into a plane
  /// of its own, or for a lone image (one group) they pad one plane together (`DirectConvolution.sharesPlane`).
  /// The loop header over images and the one over a part's items. A lone image's items are claimed as the parts go
  /// (`danlu_claim_item`), each its own half first: fixed halves left one thread waiting whenever the machine slowed
  /// the other (ResNet-18 at batch 1, paired against fixed halves: 0.96–0.97 in noisy phases, 1.00 in quiet ones).
  static func walk(_ plan: DirectConvolution, batch: Int, items: Int) -> (images: String, items: String) {
    let threaded = plan.parts > 1
    let images = threaded && batch > 1 ? "long n = part; n < \(batch); n += parts" : "long n = 0; n < \(batch); n++"
    if plan.sharesPlane {
      let claim = "danlu_claim_item(claims, part, \(items))"
      return (images, "long item = \(claim); item >= 0; item = \(claim)")
    }
    let range = threaded && batch == 1 ? ("part * \(items) / parts", "(part + 1) * \(items) / parts") : ("0", "\(items)")
    return (images, "long item = \(range.0); item < \(range.1); item++")
  }

  /// The C expression of a part's padded plane in `scratch`: its own, or the one the parts share.
  static func plane(_ plan: DirectConvolution, _ scratch: String) -> String {
    plan.parts > 1 && !plan.sharesPlane ? "\(scratch) + part * \(plan.planeFloats)" : scratch
  }

  /// C zeroing the plane and copying image n's group g of input channels into it at the padding's offset, its lines
  /// indented by `indent` spaces; where the parts share the plane (`DirectConvolution.sharesPlane`), a part's share of
  /// the channels (each channel's slab zeroed, then copied: the plane is exactly the channels' slabs, `planeFloats`),
  /// then a barrier. A blocked input (`ConvGeometry.inputBlocked`) is copied by blocks of 8 channels into a blocked
  /// plane, each row 8 floats a column.
  static func fillPlane(_ plan: DirectConvolution, _ geometry: ConvGeometry, _ a: Conv2dAttributes,
                        indent: Int) -> String {
    let (height, stride, h, w) = (plan.paddedHeight, plan.rowStride, geometry.h, geometry.w)
    // Slabs of the plane: channels, or blocks of 8 channels `step` floats a position.
    let step = geometry.inputBlocked ? 8 : 1, slabs = geometry.cg / step, slab = height * stride * step
    let copy = [
      "  for (long iy = 0; iy < \(h); iy++)",
      "    memcpy(plane + ((ic * \(height) + iy + \(a.padding[0])) * \(stride) + \(a.padding[1])) * \(step),",
      "           x + ((n * \(geometry.c / step) + g * \(slabs) + ic) * \(h) + iy) * \(w * step), sizeof(float) * \(w * step));",
    ]
    let lines = !plan.sharesPlane
      ? ["memset(plane, 0, sizeof(float) * \(plan.planeFloats));", "for (long ic = 0; ic < \(slabs); ic++)"] + copy
      : ["for (long ic = part * \(slabs) / parts; ic < (part + 1) * \(slabs) / parts; ic++) {",
         "  memset(plane + ic * \(slab), 0, sizeof(float) * \(slab));"] + copy
        + ["}", "#pragma omp barrier"]
    return lines.map { String(repeating: " ", count: indent) + $0 }.joined(separator: "\n")
  }
}
