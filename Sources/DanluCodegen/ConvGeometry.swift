import DanluIR

/// The sizes every convolution kernel (forward and both gradients) is written in terms of.
struct ConvGeometry {
  let n, c, h, w: Int
  let o, cg, kh, kw: Int
  let oh, ow: Int
  let groups: Int
  /// Whether the input's channels are blocked by 8 (`Layout.nchw8c`, one group): im2col reads it that way.
  var inputBlocked = false

  init(x: [Int], weight: [Int], y: [Int], groups: Int, inputBlocked: Bool = false) {
    self.inputBlocked = inputBlocked
    (n, c, h, w) = (x[0], x[1], x[2], x[3])
    (o, cg, kh, kw) = (weight[0], weight[1], weight[2], weight[3])
    (oh, ow) = (y[2], y[3])
    self.groups = groups
  }

  /// Output channels per group, GEMM depth (one group's filter size), output positions per image.
  var og: Int { o / groups }
  var k: Int { cg * kh * kw }
  var spatial: Int { oh * ow }

  /// `xin` (this image and group's input channels) and `cols`, the GEMM operand: `xin` itself for a 1×1 stride-1
  /// convolution, otherwise its im2col in the scratch.
  func columns(_ a: Conv2dAttributes, scratch: String) -> String {
    var body = "      const float *xin = x + (n * \(c) + g * \(cg)) * \(h * w);\n"
    if a.isPointwise(kernel: [kh, kw]) { return body + "      const float *cols = xin;\n" }
    body += "      float *cols = \(scratch);\n"
    return body + KernelEmitter.im2col(a, cg: cg, kh: kh, kw: kw, h: h, w: w, oh: oh, ow: ow, rowStride: "\(spatial)",
                                       blocked: inputBlocked)
  }

  /// `cols` for an image (one group) that a region's threads share: `xin` itself for a 1×1 stride-1 convolution,
  /// otherwise its im2col in the scratch, each thread filling its share of the input channels' rows before all meet.
  func sharedColumns(_ a: Conv2dAttributes, scratch: String) -> String {
    if a.isPointwise(kernel: [kh, kw]) { return "    const float *cols = xin;\n" }
    return "    float *cols = \(scratch);\n"
      + KernelEmitter.im2col(a, cg: c, kh: kh, kw: kw, h: h, w: w, oh: oh, ow: ow, rowStride: "\(spatial)",
                             channels: ("part * \(c) / parts", "(part + 1) * \(c) / parts"), blocked: inputBlocked)
      + "    #pragma omp barrier\n"
  }

  /// The operand declarations and the loop over images and groups that every convolution kernel starts with.
  func loopHeader(_ operands: [(name: String, reference: String)], _ y: String) -> String {
    "  const float " + operands.map { "*restrict \($0.name) = \($0.reference)" }.joined(separator: ", ") + ";\n" + y
      + "  for (long n = 0; n < \(n); n++)\n    for (long g = 0; g < \(groups); g++) {\n"
  }
}
