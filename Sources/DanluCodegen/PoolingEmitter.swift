import DanluIR

/// C for average and max pooling: the loops over a window, the divisor of an average at the padding
/// (`count_include_pad`), and max pooling by windows, separable or by rows, its planes on two threads when large
/// enough.
extension KernelEmitter {
  /// The loops over one pooling window's taps inside the input (`iy`, `ix`), around `statement`.
  static func poolWindow(_ p: PoolAttributes, h: Int, w: Int, _ statement: String) -> String {
    """
            for (long ky = 0; ky < \(p.kernel[0]); ky++) {
              const long iy = y0 + ky * \(p.dilation[0]);
              if (iy < 0 || iy >= \(h)) continue;
              for (long kx = 0; kx < \(p.kernel[1]); kx++) {
                const long ix = x0 + kx * \(p.dilation[1]);
                if (ix < 0 || ix >= \(w)) continue;
                \(statement)
              }
            }

    """
  }

  /// The C expression an average-pooling window at (`y0`, `x0`) divides by: the taps inside the padded input
  /// (`count_include_pad`), or the `count` of taps inside the input itself.
  static func averageDivisor(_ p: PoolAttributes, h: Int, w: Int) -> String {
    guard p.countIncludePad else { return "(float)count" }
    return "(float)(((y0 + \(p.kernel[0]) < \(h + p.padding[0]) ? y0 + \(p.kernel[0]) : \(h + p.padding[0])) - y0) * "
      + "((x0 + \(p.kernel[1]) < \(w + p.padding[1]) ? x0 + \(p.kernel[1]) : \(w + p.padding[1])) - x0))"
  }

  static func pool(_ x: String, _ s: [Int], _ out: [Int], _ p: PoolAttributes, _ y: String, isMax: Bool) -> String {
    let (h, w, oh, ow) = (s[2], s[3], out[2], out[3])
    if isMax { return maxPool(x, s, out, p, y) }
    let body = "  const float *restrict x = \(x);\n" + y + """
        for (long plane = 0; plane < \(s[0] * s[1]); plane++)
          for (long oy = 0; oy < \(oh); oy++)
            for (long ox = 0; ox < \(ow); ox++) {
              const long y0 = oy * \(p.stride[0]) - \(p.padding[0]), x0 = ox * \(p.stride[1]) - \(p.padding[1]);
              float acc = 0.0f;
              long count = 0;

      """ + poolWindow(p, h: h, w: w, "const float v = x[(plane * \(h) + iy) * \(w) + ix];\n            acc += v; count++;")
    let divisor = KernelEmitter.averageDivisor(p, h: h, w: w)
    return body + "        y[(plane * \(oh) + oy) * \(ow) + ox] = acc / \(divisor);\n      }\n"
  }

  /// Max pooling. Where every window lies inside the input (no padding, no ceil-mode overhang: LeNet's 2×2 pools),
  /// per window with no checks, which the C compiler unrolls. Otherwise `separable` where a plane's row maxima fit
  /// its buffer, else a row of outputs at a time: for each tap inside the input, one pass along the row over the
  /// outputs whose window holds it (`lo`..<`hi`, as im2col finds them), with no branch inside. Per window with every
  /// tap checked, ResNet-18's pool after the stem took 0.44 ms against 0.30 by rows; by rows, LeNet-5's took 8% longer
  /// than per window.
  static func maxPool(_ x: String, _ s: [Int], _ out: [Int], _ p: PoolAttributes, _ y: String) -> String {
    let (h, w, oh, ow) = (s[2], s[3], out[2], out[3])
    // Planes split over `parts` threads (`maxPoolParts`); the region wraps the loop.
    let parts = maxPoolParts(s, out, p)
    let region = { (body: String) in parts > 1 ? inParts(parts, body) : body }
    let planes = parts > 1 ? "for (long plane = part; plane < \(s[0] * s[1]); plane += parts)"
      : "for (long plane = 0; plane < \(s[0] * s[1]); plane++)"
    let inside = p.padding == [0, 0] && (oh - 1) * p.stride[0] + (p.kernel[0] - 1) * p.dilation[0] < h
      && (ow - 1) * p.stride[1] + (p.kernel[1] - 1) * p.dilation[1] < w
    if inside {
      return "  const float *restrict x = \(x);\n" + y + region("""
          \(planes)
            for (long oy = 0; oy < \(oh); oy++)
              for (long ox = 0; ox < \(ow); ox++) {
                const float *window = x + (plane * \(h) + oy * \(p.stride[0])) * \(w) + ox * \(p.stride[1]);
                float acc = -INFINITY;
                for (long ky = 0; ky < \(p.kernel[0]); ky++)
                  for (long kx = 0; kx < \(p.kernel[1]); kx++) {
                    const float v = window[ky * \(p.dilation[0] * w) + kx * \(p.dilation[1])];
                    acc = v > acc ? v : acc;
                  }
                y[(plane * \(oh) + oy) * \(ow) + ox] = acc;
              }

        """)
    }
    if h * ow <= separableFloats { return "  const float *restrict x = \(x);\n" + y + region(separable(planes, s, out, p)) }
    return "  const float *restrict x = \(x);\n" + y + region("""
        \(planes)
          for (long oy = 0; oy < \(oh); oy++) {
            float *restrict out = y + (plane * \(oh) + oy) * \(ow);
            for (long ox = 0; ox < \(ow); ox++) out[ox] = -INFINITY;
            for (long ky = 0; ky < \(p.kernel[0]); ky++) {
              const long iy = oy * \(p.stride[0]) - \(p.padding[0]) + ky * \(p.dilation[0]);
              if (iy < 0 || iy >= \(h)) continue;
              const float *src = x + (plane * \(h) + iy) * \(w);
              for (long kx = 0; kx < \(p.kernel[1]); kx++) {
                \(tapColumns(stride: p.stride[1], dilation: p.dilation[1], padding: p.padding[1], w: w, ow: ow, indent: 10))
                for (long ox = lo; ox < hi; ox++) {
                  const float v = src[ox * \(p.stride[1]) + ix0];
                  out[ox] = v > out[ox] ? v : out[ox];
                }
              }
            }
          }

      """)
  }

  /// Max pooling where the input or the output is blocked (`Layout.nchw8c`): items of (image, block of 8 channels,
  /// output row), each window's 8 channels one vector of maxima over the taps inside the input (the window's rows and
  /// columns clipped before the loops, so that none holds a branch; the taps in the NCHW kernels' order, so a NaN is
  /// skipped the same way), stored as one vector or to 8 planes.
  static func blockedMaxPool(_ x: String, _ s: [Int], _ out: [Int], _ p: PoolAttributes, _ y: String, input: Layout,
                             output: Layout) -> String {
    let (h, w, oh, ow, blocks) = (s[2], s[3], out[2], out[3], s[1] / 8)
    let parts = maxPoolParts(s, out, p)
    // Where tap (iy, ix)'s 8 channels start, and how far apart they are.
    let (tap, lane) = input == .nchw8c ? ("((n * \(blocks) + cb) * \(h) + iy) * \(w * 8) + ix * 8", 1)
      : ("((n * \(s[1]) + cb * 8) * \(h) + iy) * \(w) + ix", h * w)
    let (to, step) = output == .nchw8c ? ("((n * \(blocks) + cb) * \(oh) + oy) * \(ow * 8) + ox * 8", 1)
      : ("((n * \(s[1]) + cb * 8) * \(oh) + oy) * \(ow) + ox", oh * ow)
    // The first tap of a window from `start` inside [0, size), and the end of the window's taps there.
    func clip(_ k: String, start: String, size: Int, kernel: Int, dilation: Int) -> String {
      "const long \(k)0 = \(start) < 0 ? (-\(start) + \(dilation - 1)) / \(dilation) : 0;\n"
        + "long \(k)1 = (\(size) - \(start) + \(dilation - 1)) / \(dilation);\n"
        + "if (\(k)1 > \(kernel)) \(k)1 = \(kernel);"
    }
    func indented(_ text: String, _ spaces: Int) -> String {
      text.split(separator: "\n").map { String(repeating: " ", count: spaces) + $0 }.joined(separator: "\n")
    }
    let body = """
        for (long item = \(parts > 1 ? "part" : "0"); item < \(s[0] * blocks * oh); item += \(parts > 1 ? "parts" : "1")) {
          const long n = item / \(blocks * oh), cb = item / \(oh) % \(blocks), oy = item % \(oh);
          const long y0 = oy * \(p.stride[0]) - \(p.padding[0]);
      \(indented(clip("ky", start: "y0", size: h, kernel: p.kernel[0], dilation: p.dilation[0]), 4))
          for (long ox = 0; ox < \(ow); ox++) {
            const long x0 = ox * \(p.stride[1]) - \(p.padding[1]);
      \(indented(clip("kx", start: "x0", size: w, kernel: p.kernel[1], dilation: p.dilation[1]), 6))
            float m[8];
            for (int l = 0; l < 8; l++) m[l] = -INFINITY;
            for (long ky = ky0; ky < ky1; ky++)
              for (long kx = kx0; kx < kx1; kx++) {
                const long iy = y0 + ky * \(p.dilation[0]), ix = x0 + kx * \(p.dilation[1]);
                const float *v = x + \(tap);
                for (int l = 0; l < 8; l++) m[l] = v[l * \(lane)] > m[l] ? v[l * \(lane)] : m[l];
              }
            float *to = y + \(to);
            for (int l = 0; l < 8; l++) to[l * \(step)] = m[l];
          }
        }

      """
    return "  const float *restrict x = \(x);\n" + y + (parts > 1 ? inParts(parts, body) : body)
  }

  /// The largest buffer of row maxima (floats, one plane's input rows by the output's columns: 64 KB) a separable
  /// max pool keeps on the stack; larger planes go by rows.
  static let separableFloats = 16 * 1024

  /// A padded max pool as two passes per plane: each input row's maxima over the window's columns (`rows`, the
  /// taps of a window inside the row in one loop, the edge windows checked), then each output row's maximum over
  /// the window's rows of those. ResNet-18's pool after the stem (3×3, stride 2, padding 1, 64×112×112) took 0.35 ms
  /// by rows and 0.19 this way on one core (the same maxima in the same order of taps: a NaN is skipped either way).
  static func separable(_ planes: String, _ s: [Int], _ out: [Int], _ p: PoolAttributes) -> String {
    let (h, w, oh, ow) = (s[2], s[3], out[2], out[3])
    let (kh, kw, sh, sw) = (p.kernel[0], p.kernel[1], p.stride[0], p.stride[1])
    let (dh, dw, ph, pw) = (p.dilation[0], p.dilation[1], p.padding[0], p.padding[1])
    // Output columns (rows) whose whole window lies inside the input.
    func inside(_ count: Int, stride: Int, padding: Int, dilation: Int, kernel: Int, size: Int) -> (Int, Int) {
      let first = (padding + stride - 1) / stride
      let last = (size - 1 + padding - (kernel - 1) * dilation)
      let end = last < 0 ? 0 : min(count, last / stride + 1)
      return (min(first, end), end)
    }
    let (x0, x1) = inside(ow, stride: sw, padding: pw, dilation: dw, kernel: kw, size: w)
    let (y0, y1) = inside(oh, stride: sh, padding: ph, dilation: dh, kernel: kh, size: h)
    // m = the maximum over k of `tap`, skipping the k where `outside` holds (at the edges).
    func maximum(_ tap: String, over kernel: Int, outside: String? = nil) -> String {
      let skip = outside.map { "if (\($0)) continue; " } ?? ""
      return "float m = -INFINITY;\n"
        + "for (long k = 0; k < \(kernel); k++) { \(skip)const float v = \(tap); m = v > m ? v : m; }"
    }
    let (column, row) = ("ox * \(sw) - \(pw) + k * \(dw)", "oy * \(sh) - \(ph) + k * \(dh)")
    func indented(_ text: String, _ spaces: Int) -> String {
      text.replacingOccurrences(of: "\n", with: "\n" + String(repeating: " ", count: spaces))
    }
    // Each pass as loops over index ranges: the windows wholly inside the input (taps unchecked), then the edges.
    func ranges(_ inside: (Int, Int), _ count: Int) -> [(from: Int, to: Int, checked: Bool)] {
      [(inside.0, inside.1, false), (0, inside.0, true), (inside.1, count, true)].filter { $0.from < $0.to }
    }
    let columns = ranges((x0, x1), ow).map { r in
      let m = maximum("src[\(column)]", over: kw, outside: r.checked ? "\(column) < 0 || \(column) >= \(w)" : nil)
      return "      for (long ox = \(r.from); ox < \(r.to); ox++) {\n        \(indented(m, 8))\n        r[ox] = m;\n      }\n"
    }
    let rows = ranges((y0, y1), oh).map { r in
      let m = maximum("rows[(\(row)) * \(ow) + ox]", over: kh, outside: r.checked ? "\(row) < 0 || \(row) >= \(h)" : nil)
      return """
            for (long oy = \(r.from); oy < \(r.to); oy++) {
              float *restrict out = y + (plane * \(oh) + oy) * \(ow);
              for (long ox = 0; ox < \(ow); ox++) {
                \(indented(m, 8))
                out[ox] = m;
              }
            }

        """
    }
    return """
        \(planes) {
          float rows[\(h * ow)];
          for (long iy = 0; iy < \(h); iy++) {
            const float *src = x + (plane * \(h) + iy) * \(w);
            float *restrict r = rows + iy * \(ow);
      \(columns.joined())\
          }
      \(rows.joined())\
        }

      """
  }

  /// Threads a max pool's planes run on: two from 1M window reads (ResNet-18's pool after the stem: 1.8M at batch 1,
  /// 116M at batch 64), else one.
  static func maxPoolParts(_ s: [Int], _ out: [Int], _ p: PoolAttributes) -> Int {
    s[0] * s[1] >= 2 && out.reduce(1, *) * p.kernel[0] * p.kernel[1] >= 1024 * 1024 ? 2 : 1
  }
}
