import DanluIR

/// The C of a GEMM convolution: im2col, the GEMM (one image, several images, or pixels-major, as `ConvTiling`
/// decides) and the fused epilogue.
extension KernelEmitter {
  /// Convolution as GEMM: W[O/g, C/g·kh·kw] × cols[C/g·kh·kw, OH·OW] per image and group. A 1×1 stride-1
  /// convolution multiplies the input directly; otherwise im2col fills the scratch first. Small images share one GEMM
  /// (`ConvTiling`). `steps` are the fused epilogue statements on `v` (channel `c`, flat index `idx`), run over each
  /// image's rows while they are in cache.
  static func conv2d(_ x: String, _ w: String, _ sx: [Int], _ sw: [Int], _ out: [Int], _ a: Conv2dAttributes,
                     _ y: String, scratch: String, steps: String?) -> String {
    if a.algorithm == .winograd {
      return WinogradEmitter.conv2d(x, w, sx, sw, out, padding: a.padding, y, scratch: scratch, steps: steps)
    }
    let geometry = ConvGeometry(x: sx, weight: sw, y: out, groups: a.groups)
    let tiling = a.tiling(weight: sw, output: out)
    if tiling.staged {
      return batchedConv2d(x, w, geometry, a, images: tiling.images, pixelsMajor: tiling.pixelsMajor, y, scratch: scratch,
                           steps: steps)
    }
    let (o, og, k, spatial) = (geometry.o, geometry.og, geometry.k, geometry.spatial)
    var body = geometry.loopHeader([("x", x), ("w", w)], y) + geometry.columns(a, scratch: scratch)
    body += "      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, \(og), \(spatial), \(k), 1.0f, "
      + "w + g * \(og * k), \(k), cols, \(spatial), 0.0f, y + (n * \(o) + g * \(og)) * \(spatial), \(spatial));\n"
    if let steps {
      body += """
              for (long j = 0; j < \(og); j++) {
                const long c = g * \(og) + j;
                float *row = y + (n * \(o) + c) * \(spatial);
                for (long i = 0; i < \(spatial); i++) {
                  const long idx = (n * \(o) + c) * \(spatial) + i;
                  (void)idx;
                  float v = row[i];
          \(steps)
                  row[i] = v;
                }
              }

          """
    }
    return body + "    }\n"
  }

  /// Several images' columns side by side in one GEMM (one group only): `cols[K, images·OH·OW]` gives
  /// `staged[O, images·OH·OW]`, or pixels-major `staged[images·OH·OW, O]` = colsᵀ · Wᵀ, which the epilogue scatters
  /// to NCHW.
  static func batchedConv2d(_ x: String, _ w: String, _ geometry: ConvGeometry, _ a: Conv2dAttributes, images: Int,
                            pixelsMajor: Bool, _ y: String, scratch: String, steps: String?) -> String {
    let (n, o, k, spatial) = (geometry.n, geometry.o, geometry.k, geometry.spatial)
    let image = geometry.c * geometry.h * geometry.w
    let gemm = pixelsMajor
      ? "cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, width, \(o), \(k), 1.0f, cols, width, w, \(k), 0.0f, staged, \(o));"
      : "cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, \(o), width, \(k), 1.0f, w, \(k), cols, width, 0.0f, staged, width);"
    return """
        const float *restrict x = \(x), *restrict w = \(w);
      \(y)  float *cols = \(scratch), *staged = cols + \(k * images * spatial);
        for (long n0 = 0; n0 < \(n); n0 += \(images)) {
          const long count = n0 + \(images) <= \(n) ? \(images) : \(n) - n0, width = count * \(spatial);
          for (long b = 0; b < count; b++) {
            const float *xin = x + (n0 + b) * \(image);
            float *cols = \(scratch) + b * \(spatial);

      """ + im2col(a, cg: geometry.cg, kh: geometry.kh, kw: geometry.kw, h: geometry.h, w: geometry.w,
                   oh: geometry.oh, ow: geometry.ow, rowStride: "width") + """
          }
          \(gemm)
          for (long b = 0; b < count; b++)
            for (long c = 0; c < \(o); c++) {
              const float *from = staged + \(pixelsMajor ? "b * \(spatial * o) + c" : "c * width + b * \(spatial)");
              float *row = y + ((n0 + b) * \(o) + c) * \(spatial);
              for (long i = 0; i < \(spatial); i++) {
                const long idx = ((n0 + b) * \(o) + c) * \(spatial) + i;
                (void)idx;
                float v = from[\(pixelsMajor ? "i * \(o)" : "i")];
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

  /// Fills `cols` (rows of `rowStride` floats) for the image at `xin`. Output columns [lo, hi) of each row read
  /// inside the input; the rest read padding.
  static func im2col(_ a: Conv2dAttributes, cg: Int, kh: Int, kw: Int, h: Int, w: Int, oh: Int, ow: Int,
                     rowStride: String) -> String {
    """
          for (long ic = 0; ic < \(cg); ic++)
            for (long ky = 0; ky < \(kh); ky++)
              for (long kx = 0; kx < \(kw); kx++) {
                float *row = cols + ((ic * \(kh) + ky) * \(kw) + kx) * \(rowStride);
                \(tapColumns(stride: a.stride[1], dilation: a.dilation[1], padding: a.padding[1], w: w, ow: ow, indent: 12))
                for (long oy = 0; oy < \(oh); oy++) {
                  float *out = row + oy * \(ow);
                  const long iy = oy * \(a.stride[0]) - \(a.padding[0]) + ky * \(a.dilation[0]);
                  if (iy < 0 || iy >= \(h) || hi <= lo) { memset(out, 0, sizeof(float) * \(ow)); continue; }
                  const float *src = xin + (ic * \(h) + iy) * \(w);
                  for (long ox = 0; ox < lo; ox++) out[ox] = 0.0f;
                  \(a.stride[1] == 1 ? "memcpy(out + lo, src + lo + ix0, sizeof(float) * (hi - lo));"
                    : "for (long ox = lo; ox < hi; ox++) out[ox] = src[ox * \(a.stride[1]) + ix0];")
                  for (long ox = hi; ox < \(ow); ox++) out[ox] = 0.0f;
                }
              }

    """
  }
}
