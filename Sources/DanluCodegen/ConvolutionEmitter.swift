import DanluIR

/// The C of a GEMM convolution: im2col, the GEMM (one image, several images, a block of an image's rows or of its
/// filters, on one thread or two, as `ConvTiling` decides) and the fused epilogue.
extension KernelEmitter {
  /// Convolution as GEMM: W[O/g, C/g·kh·kw] × cols[C/g·kh·kw, OH·OW] per image and group. A 1×1 stride-1
  /// convolution multiplies the input directly; otherwise im2col fills the scratch first. Small images share one GEMM
  /// (`ConvTiling`). `steps` are the fused epilogue statements on `v` (channel `c`, flat index `idx`), run over each
  /// image's rows while they are in cache.
  static func conv2d(_ x: String, _ w: String, _ sx: [Int], _ sw: [Int], _ out: [Int], _ a: Conv2dAttributes,
                     _ y: String, scratch: String, steps: String?, packedFilters: Bool = false,
                     layouts: ConvLayouts = .plain) -> String {
    if a.algorithm == .winograd {
      return WinogradEmitter.conv2d(x, w, sx, sw, out, padding: a.padding, y, scratch: scratch, steps: steps)
    }
    if a.algorithm == .direct {
      return DirectConvolutionEmitter.conv2d(x, w, sx, sw, out, a, y, scratch: scratch, steps: steps, filters: packedFilters,
                                             layouts: layouts)
    }
    let geometry = ConvGeometry(x: sx, weight: sw, y: out, groups: a.groups, inputBlocked: layouts.input)
    let tiling = a.tiling(weight: sw, output: out)
    let (o, og, k, spatial) = (geometry.o, geometry.og, geometry.k, geometry.spatial)
    // With two parts each thread has its own scratch and takes every other work item (an image, a group of images,
    // or a block of a lone image's rows).
    let partScratch = tiling.parts > 1
      ? "(\(scratch) + part * \(tiling.partFloats(depth: k, outputChannels: o, spatial: spatial, pointwise: a.isPointwise(kernel: [sw[2], sw[3]]))))"
      : scratch
    // The operands and output, declared before any loop or region.
    let declarations = "  const float *restrict x = \(x), *restrict w = \(w);\n" + y
    if tiling.staged {
      let body = batchedConv2d(geometry, a, images: tiling.images, scratch: partScratch, steps: steps, parts: tiling.parts > 1)
      return declarations + (tiling.parts > 1 ? inParts(tiling.parts, body) : body)
    }
    if tiling.splitsChannels {
      return declarations + inParts(tiling.parts, channelPart(geometry, a, scratch: scratch, steps: steps))
    }
    if tiling.parts > 1 {
      return declarations + inParts(tiling.parts, itemsPart(geometry, a, tiling, scratch: partScratch, steps: steps))
    }
    var body = geometry.loopHeader([("x", x), ("w", w)], y) + geometry.columns(a, scratch: scratch)
    body += "      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, \(og), \(spatial), \(k), 1.0f, "
      + "w + g * \(og * k), \(k), cols, \(spatial), 0.0f, y + (n * \(o) + g * \(og)) * \(spatial), \(spatial));\n"
    if let steps { body += epilogue(og: og, o: o, spatial: spatial, from: "0", count: "\(spatial)", steps: steps) }
    return body + "    }\n"
  }

  /// The epilogue over `count` output positions from `from` of every channel of group g of image n.
  static func epilogue(og: Int, o: Int, spatial: Int, from: String, count: String, steps: String) -> String {
    """
        for (long j = 0; j < \(og); j++) {
          const long c = g * \(og) + j;
          float *row = y + (n * \(o) + c) * \(spatial);
          for (long i = \(from); i < \(from == "0" ? count : "\(from) + \(count)"); i++) {
            const long idx = (n * \(o) + c) * \(spatial) + i;
            (void)idx;
            float v = row[i];
    \(steps)
            row[i] = v;
          }
        }

    """
  }

  /// A thread's part of an unstaged convolution: each work item is an image, or a block of an image's output rows,
  /// whose im2col, GEMM (into the output's columns from col0, at the output's row stride) and epilogue it runs.
  static func itemsPart(_ geometry: ConvGeometry, _ a: Conv2dAttributes, _ tiling: ConvTiling, scratch: String,
                        steps: String?) -> String {
    let (o, og, k, spatial) = (geometry.o, geometry.og, geometry.k, geometry.spatial)
    let (oh, ow, blocks) = (geometry.oh, geometry.ow, tiling.rowBlocks)
    let pointwise = a.isPointwise(kernel: [geometry.kh, geometry.kw])
    var body = """
        for (long item = part; item < \(geometry.n * blocks); item += parts) {
          const long n = item / \(blocks), block = item % \(blocks);
          const long oy0 = block * \(oh) / \(blocks), oy1 = (block + 1) * \(oh) / \(blocks);
          const long width = (oy1 - oy0) * \(ow), col0 = oy0 * \(ow);
          for (long g = 0; g < \(geometry.groups); g++) {
            const float *xin = x + (n * \(geometry.c) + g * \(geometry.cg)) * \(geometry.h * geometry.w);

      """
    if pointwise {
      body += "      const float *cols = xin + col0;\n"
    } else {
      body += "      float *cols = \(scratch);\n"
        + im2col(a, cg: geometry.cg, kh: geometry.kh, kw: geometry.kw, h: geometry.h, w: geometry.w, oh: oh, ow: ow,
                 rowStride: "width", rows: ("oy0", "oy1"), blocked: geometry.inputBlocked)
    }
    body += "      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, \(og), width, \(k), 1.0f, "
      + "w + g * \(og * k), \(k), cols, \(pointwise ? "\(spatial)" : "width"), 0.0f, "
      + "y + (n * \(o) + g * \(og)) * \(spatial) + col0, \(spatial));\n"
    if let steps { body += epilogue(og: og, o: o, spatial: spatial, from: "col0", count: "width", steps: steps) }
    return body + "    }\n  }\n"
  }

  /// A thread's part of a lone image's convolution split by output channels (`ConvTiling.splitsChannels`, one
  /// group): it fills its share of the input channels' im2col rows, meets the others, then multiplies its share of
  /// the filters and runs their epilogue.
  static func channelPart(_ geometry: ConvGeometry, _ a: Conv2dAttributes, scratch: String, steps: String?) -> String {
    let (o, k, spatial) = (geometry.o, geometry.k, geometry.spatial)
    var body = "    const float *xin = x;\n" + geometry.sharedColumns(a, scratch: scratch)
    body += """
        const long o0 = part * \(o) / parts, o1 = (part + 1) * \(o) / parts;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, o1 - o0, \(spatial), \(k), 1.0f, w + o0 * \(k), \(k), cols, \(spatial),
                    0.0f, y + o0 * \(spatial), \(spatial));

      """
    if let steps {
      body += """
          for (long c = o0; c < o1; c++) {
            float *row = y + c * \(spatial);
            for (long i = 0; i < \(spatial); i++) {
              const long idx = c * \(spatial) + i;
              (void)idx;
              float v = row[i];
        \(steps)
              row[i] = v;
            }
          }

        """
    }
    return body
  }

  /// Several images' columns side by side in one GEMM (one group only): `cols[K, images·OH·OW]` gives
  /// `staged[O, images·OH·OW]`, which the epilogue scatters to NCHW.
  static func batchedConv2d(_ geometry: ConvGeometry, _ a: Conv2dAttributes, images: Int, scratch: String, steps: String?,
                            parts: Bool) -> String {
    let (n, o, k, spatial) = (geometry.n, geometry.o, geometry.k, geometry.spatial)
    let image = geometry.c * geometry.h * geometry.w
    let gemm = "cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, \(o), width, \(k), 1.0f, w, \(k), cols, width, 0.0f, staged, width);"
    // In parts (`parts`), each thread takes every other group.
    return """
        float *cols = \(scratch), *staged = cols + \(k * images * spatial);
        for (long n0 = \(parts ? "part * \(images)" : "0"); n0 < \(n); n0 += \(parts ? "parts * \(images)" : "\(images)")) {
          const long count = n0 + \(images) <= \(n) ? \(images) : \(n) - n0, width = count * \(spatial);
          for (long b = 0; b < count; b++) {
            const float *xin = x + (n0 + b) * \(image);
            float *cols = \(scratch) + b * \(spatial);

      """ + im2col(a, cg: geometry.cg, kh: geometry.kh, kw: geometry.kw, h: geometry.h, w: geometry.w,
                   oh: geometry.oh, ow: geometry.ow, rowStride: "width", blocked: geometry.inputBlocked) + """
          }
          \(gemm)
          for (long b = 0; b < count; b++)
            for (long c = 0; c < \(o); c++) {
              const float *from = staged + c * width + b * \(spatial);
              float *row = y + ((n0 + b) * \(o) + c) * \(spatial);
              for (long i = 0; i < \(spatial); i++) {
                const long idx = ((n0 + b) * \(o) + c) * \(spatial) + i;
                (void)idx;
                float v = from[i];
      \(steps ?? "")
                row[i] = v;
              }
            }
        }

      """
  }

  /// C declaring, for tap `kx` of a row of windows, `ix0` (the input column under output column 0) and the output
  /// columns [`lo`, `hi`) whose tap reads inside the input; the lines after the first indented by `indent` spaces.
  /// im2col and max pooling share it.
  static func tapColumns(stride: Int, dilation: Int, padding: Int, w: Int, ow: Int, indent: Int) -> String {
    [
      "const long ix0 = kx * \(dilation) - \(padding);",
      "const long lo = ix0 >= 0 ? 0 : (-ix0 + \(stride - 1)) / \(stride);",
      "long hi = (\(w) - ix0 + \(stride - 1)) / \(stride);",
      "if (hi > \(ow)) hi = \(ow);",
    ].joined(separator: "\n" + String(repeating: " ", count: indent))
  }

  /// Fills `cols` (rows of `rowStride` floats) for the image at `xin`, or for its output rows [from, to) or input
  /// channels [from, to) only; from an input whose channels are `blocked` by 8 (`Layout.nchw8c`), a row's columns 8
  /// floats apart.
  /// Output columns [lo, hi) of each row read inside the input; the rest read padding.
  static func im2col(_ a: Conv2dAttributes, cg: Int, kh: Int, kw: Int, h: Int, w: Int, oh: Int, ow: Int,
                     rowStride: String, rows: (from: String, to: String)? = nil,
                     channels: (from: String, to: String)? = nil, blocked: Bool = false) -> String {
    let source = blocked ? "xin + (ic / 8 * \(h) + iy) * \(w * 8) + ic % 8" : "xin + (ic * \(h) + iy) * \(w)"
    let copy = blocked ? "for (long ox = lo; ox < hi; ox++) out[ox] = src[(ox * \(a.stride[1]) + ix0) * 8];"
      : a.stride[1] == 1 ? "memcpy(out + lo, src + lo + ix0, sizeof(float) * (hi - lo));"
      : "for (long ox = lo; ox < hi; ox++) out[ox] = src[ox * \(a.stride[1]) + ix0];"
    return """
          for (long ic = \(channels?.from ?? "0"); ic < \(channels?.to ?? "\(cg)"); ic++)
            for (long ky = 0; ky < \(kh); ky++)
              for (long kx = 0; kx < \(kw); kx++) {
                float *row = cols + ((ic * \(kh) + ky) * \(kw) + kx) * \(rowStride);
                \(tapColumns(stride: a.stride[1], dilation: a.dilation[1], padding: a.padding[1], w: w, ow: ow, indent: 12))
                for (long oy = \(rows?.from ?? "0"); oy < \(rows?.to ?? "\(oh)"); oy++) {
                  float *out = row + \(rows.map { "(oy - \($0.from))" } ?? "oy") * \(ow);
                  const long iy = oy * \(a.stride[0]) - \(a.padding[0]) + ky * \(a.dilation[0]);
                  if (iy < 0 || iy >= \(h) || hi <= lo) { memset(out, 0, sizeof(float) * \(ow)); continue; }
                  const float *src = \(source);
                  for (long ox = 0; ox < lo; ox++) out[ox] = 0.0f;
                  \(copy)
                  for (long ox = hi; ox < \(ow); ox++) out[ox] = 0.0f;
                }
              }

    """
  }
}
