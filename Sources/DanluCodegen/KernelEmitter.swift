import DanluIR

/// The body of each node's C kernel, with every size a literal so the C compiler can unroll and vectorize.
enum KernelEmitter {
  static func kernel(_ graph: Graph, _ index: Int, _ plan: StoragePlan) -> String? {
    let context = KernelContext(graph, index, plan)
    let (node, y, out, count) = (context.node, context.y, context.out, context.count)
    func x(_ i: Int) -> String { context.x(i) }
    func shape(_ i: Int) -> [Int] { context.shape(i) }

    switch node.op {
    case .input, .parameter, .buffer, .reshape:
      return nil
    case .fill(let value): return y + "  for (long i = 0; i < \(count); i++) y[i] = \(literal(value));\n"
    case .sinusoid:
      let width = out[1]
      return y + """
          for (long p = 0; p < \(out[0]); p++)
            for (long i = 0; i < \(width); i += 2) {
              const double angle = p / pow(10000.0, (double)i / \(width).0);
              y[p * \(width) + i] = (float)sin(angle);
              if (i + 1 < \(width)) y[p * \(width) + i + 1] = (float)cos(angle);
            }

        """
    case .relu, .leakyRelu, .sigmoid, .tanh, .gelu, .silu:
      return unary(x(0), y, count, unaryExpression(node.op), parts: graph.loopParts(index))
    case .fused(let group): return FusedKernelEmitter.kernel(graph, index, group, plan)
    case .training(let op): return TrainingKernelEmitter.kernel(graph, index, op, plan)
    case .add: return binary(x(0), x(1), shape(0), shape(1), out, y, "+")
    case .mul: return binary(x(0), x(1), shape(0), shape(1), out, y, "*")

    case .matmul(let transposeB):
      if let p = graph.packedMatmul(index) {
        return y + PackedGemmEmitter.gemm(x(0), x(1), m: p.rows, n: p.columns, k: p.depth, parts: p.parts, steps: "")
      }
      return y + gemm(x(0), x(1), shape(0), shape(1), transposeB: transposeB)

    case .packPanels:
      if let r = graph.recurrentStepWeight(index) { return RecurrentEmitter.pack(r, depth: shape(0)[1], x(0), y) }
      if let blocks = graph.winogradFilters(index) { return WinogradBlockedEmitter.pack(x(0), blocks, y) }
      return PackedGemmEmitter.pack(x(0), rows: shape(0)[0], depth: shape(0).dropFirst().reduce(1, *), y)

    case .biasAdd(let axis):
      let outer = out[..<axis].reduce(1, *), channels = out[axis], inner = out[(axis + 1)...].reduce(1, *)
      return "  const float *x = \(x(0)), *b = \(x(1));\n" + y + """
          for (long o = 0; o < \(outer); o++)
            for (long c = 0; c < \(channels); c++) {
              const float bc = b[c];
              const long base = (o * \(channels) + c) * \(inner);
              for (long i = 0; i < \(inner); i++) y[base + i] = x[base + i] + bc;
            }

        """

    case .conv2d(let a):
      if let p = graph.packedConvolution(index) {
        return PackedGemmEmitter.conv2d(x(0), x(1), shape(0), shape(1), out, a, y, scratch: plan.scratchReference(index),
                                        parts: p.parts, steps: nil, inputBlocked: ConvLayouts(graph, index).input)
      }
      if let blocks = graph.winogradBlocks(index) {
        return WinogradBlockedEmitter.conv2d(x(0), x(1), shape(0), out, padding: a.padding, y,
                                             scratch: plan.scratchReference(index), steps: nil, blocks: blocks)
      }
      return conv2d(x(0), x(1), shape(0), shape(1), out, a, y, scratch: plan.scratchReference(index), steps: nil,
                    packedFilters: graph.directConvolution(index)?.filters ?? false, layouts: ConvLayouts(graph, index))

    case .batchNorm(let eps):
      let channels = out[1], inner = out[2...].reduce(1, *), batch = out[0]
      return "  const float *x = \(x(0)), *w = \(x(1)), *b = \(x(2)), *mean = \(x(3)), *var = \(x(4));\n" + y + """
          for (long c = 0; c < \(channels); c++) {
            const float scale = w[c] / sqrtf(var[c] + \(literal(eps))), shift = b[c] - mean[c] * scale;
            for (long n = 0; n < \(batch); n++) {
              const long base = (n * \(channels) + c) * \(inner);
              for (long i = 0; i < \(inner); i++) y[base + i] = x[base + i] * scale + shift;
            }
          }

        """

    case .embedding:
      let (rows, width) = (shape(1)[0], shape(1)[1])
      return "  const float *ids = \(x(0)), *table = \(x(1));\n" + y + """
          for (long i = 0; i < \(shape(0).reduce(1, *)); i++) {
            const float id = ids[i];
            float *out = y + i * \(width);
            if (id >= 0.0f && id < \(rows).0f && id == (float)(long)id) memcpy(out, table + (long)id * \(width), sizeof(float) * \(width));
            else for (long k = 0; k < \(width); k++) out[k] = NAN;  /* PyTorch raises; never another row */
          }

        """

    case .layerNorm(let eps):
      // Two passes over each row, for its mean and then the mean square deviation (stable for rows far from zero),
      // each summed in 16 independent float lanes that the compiler turns into vector adds, then in double.
      let length = out.last!, whole = length - length % 16
      func rowSum(_ term: String) -> String {
        """
              for (int l = 0; l < 16; l++) lanes[l] = 0.0f;
              for (long k = 0; k < \(whole); k += 16)
                for (int l = 0; l < 16; l++) { const float v = row[k + l]; lanes[l] += \(term); }
              sum = 0.0;
              for (int l = 0; l < 16; l++) sum += lanes[l];
              for (long k = \(whole); k < \(length); k++) { const float v = row[k]; sum += \(term); }
        """
      }
      return "  const float *x = \(x(0)), *w = \(x(1)), *b = \(x(2));\n" + y
        + rowLoop(rows: count / max(1, length), parts: graph.loopParts(index)) { r, _ in """
          for (long r = \(r.from); r < \(r.to); r++) {
            const float *row = x + r * \(length);
            float lanes[16], mu = 0.0f;
            double sum;
        \(rowSum("v"))
            mu = (float)(sum / \(length).0);
        \(rowSum("(v - mu) * (v - mu)"))
            const float inv = (float)(1.0 / sqrt(sum / \(length).0 + \(Double(eps))));
            float *out = y + r * \(length);
            for (long k = 0; k < \(length); k++) out[k] = (row[k] - mu) * inv * w[k] + b[k];
          }

        """ }

    case .maxPool2d(let p) where graph.nodes[node.operands[0]].type.layout == .nchw8c || node.type.layout == .nchw8c:
      return blockedMaxPool(x(0), shape(0), out, p, y, input: graph.nodes[node.operands[0]].type.layout,
                            output: node.type.layout)
    case .maxPool2d(let p), .avgPool2d(let p):
      return pool(x(0), shape(0), out, p, y, isMax: { if case .maxPool2d = node.op { true } else { false } }())

    case .adaptiveAvgPool2d:
      let s = shape(0)
      return "  const float *restrict x = \(x(0));\n" + y + """
          for (long plane = 0; plane < \(s[0] * s[1]); plane++)
            for (long oy = 0; oy < \(out[2]); oy++) {
              const long y0 = oy * \(s[2]) / \(out[2]), y1 = ((oy + 1) * \(s[2]) + \(out[2] - 1)) / \(out[2]);
              for (long ox = 0; ox < \(out[3]); ox++) {
                const long x0 = ox * \(s[3]) / \(out[3]), x1 = ((ox + 1) * \(s[3]) + \(out[3] - 1)) / \(out[3]);
                float sum = 0.0f;
                for (long iy = y0; iy < y1; iy++)
                  for (long ix = x0; ix < x1; ix++) sum += x[(plane * \(s[2]) + iy) * \(s[3]) + ix];
                y[(plane * \(out[2]) + oy) * \(out[3]) + ox] = sum / (float)((y1 - y0) * (x1 - x0));
              }
            }

        """

    case .softmax(let axis), .logSoftmax(let axis):
      let isLog: Bool = { if case .logSoftmax = node.op { true } else { false } }()
      let length = out[axis], inner = out[(axis + 1)...].reduce(1, *), outer = count / (length * inner)
      let finish = isLog ? "y[base + k * \(inner)] = x[base + k * \(inner)] - peak - logf(total);"
        : "y[base + k * \(inner)] = expf(x[base + k * \(inner)] - peak) / total;"
      // One row per (outer, inner) pair, its `length` elements `inner` apart.
      return "  const float *restrict x = \(x(0));\n" + y + rowLoop(rows: outer * inner, parts: graph.loopParts(index)) { r, _ in """
          for (long oi = \(r.from); oi < \(r.to); oi++) {
            const long base = (oi / \(inner)) * \(length * inner) + oi % \(inner);
            float peak = -INFINITY, total = 0.0f;
            for (long k = 0; k < \(length); k++) peak = fmaxf(peak, x[base + k * \(inner)]);
            for (long k = 0; k < \(length); k++) total += expf(x[base + k * \(inner)] - peak);
            for (long k = 0; k < \(length); k++) \(finish)
          }

        """ }

    case .recurrent(let r):
      let prepacked = node.operands[1...2].map { graph.nodes[$0].op == .packPanels }
      return RecurrentEmitter.kernel(r, context, scratch: plan.scratchReference(index), index: index,
                                     prepacked: (input: prepacked[0], hidden: prepacked[1]))

    case .attention(let a):
      return AttentionEmitter.kernel(a, context, scratch: plan.scratchReference(index))

    case .slice(let axis, let start, _):
      let s = shape(0)
      let inner = out[(axis + 1)...].reduce(1, *), outer = out[..<axis].reduce(1, *)
      let (chunk, total) = (out[axis] * inner, s[axis] * inner)
      let first = (start < 0 ? s[axis] + start : start) * inner
      return "  const float *x = \(x(0));\n" + y
        + "  for (long o = 0; o < \(outer); o++) memcpy(y + o * \(chunk), x + o * \(total) + \(first), sizeof(float) * \(chunk));\n"

    case .dropout:
      return "  const float *x = \(x(0));\n" + y + "  memcpy(y, x, sizeof(float) * \(count));\n"

    case .concat(let axis):
      let inner = out[(axis + 1)...].reduce(1, *), outer = out[..<axis].reduce(1, *)
      var body = y + "  long offset = 0;\n  for (long o = 0; o < \(outer); o++) {\n"
      for i in node.operands.indices {
        let chunk = shape(i)[axis] * inner
        body += "    memcpy(y + offset, \(x(i)) + o * \(chunk), sizeof(float) * \(chunk)); offset += \(chunk);\n"
      }
      return body + "  }\n"
    }
  }

  /// `y = a · bᵀ` (or `a · b`) through BLAS. One row is a matrix-vector product: sgemv streams the weights once,
  /// where sgemm would first copy (pack) all of them.
  static func gemm(_ a: String, _ b: String, _ sa: [Int], _ sb: [Int], transposeB: Bool) -> String {
    let k = sa.last!, n = sb[transposeB ? 0 : 1], m = sa.reduce(1, *) / k
    if m == 1 && n * k <= smallProduct { return smallMatrixVector(a, b, n: n, k: k, transposeB: transposeB) }
    if m == 1 {
      return "  cblas_sgemv(CblasRowMajor, \(transposeB ? "CblasNoTrans" : "CblasTrans"), \(sb[0]), \(sb[1]), 1.0f, \(b), "
        + "\(sb[1]), \(a), 1, 0.0f, y, 1);\n"
    }
    return "  cblas_sgemm(CblasRowMajor, CblasNoTrans, \(transposeB ? "CblasTrans" : "CblasNoTrans"), "
      + "\(m), \(n), \(k), 1.0f, \(a), \(k), \(b), \(transposeB ? k : n), 0.0f, y, \(n));\n"
  }

  /// Multiply-adds up to which a single-row product is a loop with literal sizes rather than a BLAS call: the call
  /// costs ~1–2 µs here, as long as the product itself (LeNet-5's fc2, 84×120: 2.4 µs through sgemv, 1.0 as a loop;
  /// fc1, 120×400: 3.1 against 2.2). Larger ones lose to sgemv (the MLP's 256×512: 5.7 µs against 7.9).
  static let smallProduct = 64 * 1024

  /// `y = a · bᵀ` for one row as 16 running sums per output (so the compiler can vectorize the dot product without
  /// reordering a single sum), or `y = a · b` as one pass over b's rows adding into all outputs. (64 running sums,
  /// four vector chains, measured slower: LeNet-5's fc1 5.9 µs against 2.2.)
  static func smallMatrixVector(_ a: String, _ b: String, n: Int, k: Int, transposeB: Bool) -> String {
    let width = 16, whole = k - k % width
    if transposeB {
      return """
          const float *restrict xa = \(a), *restrict wb = \(b);
          for (long r = 0; r < \(n); r++) {
            const float *row = wb + r * \(k);
            float lanes[\(width)] = {0};
            for (long c = 0; c < \(whole); c += \(width))
              for (int l = 0; l < \(width); l++) lanes[l] += row[c + l] * xa[c + l];
            float sum = 0.0f;
            for (int l = 0; l < \(width); l++) sum += lanes[l];
            for (long c = \(whole); c < \(k); c++) sum += row[c] * xa[c];
            y[r] = sum;
          }

        """
    }
    return """
        const float *restrict xa = \(a), *restrict wb = \(b);
        for (long c = 0; c < \(n); c++) y[c] = 0.0f;
        for (long r = 0; r < \(k); r++) {
          const float v = xa[r];
          for (long c = 0; c < \(n); c++) y[c] += v * wb[r * \(n) + c];
        }

      """
  }

  /// The C expression of an elementwise activation of `v`.
  static func unaryExpression(_ op: Op) -> String { activation(op).value }

  /// An activation f and its derivative f′ (PyTorch's convention at kinks: relu′(0) = 0) as C expressions of `v`.
  static func activation(_ op: Op) -> (value: String, derivative: String) {
    let sigmoid = "1.0f / (1.0f + expf(-v))"
    switch op {
    case .relu: return ("v > 0.0f ? v : 0.0f", "v > 0.0f ? 1.0f : 0.0f")
    case .leakyRelu(let slope): return ("v >= 0.0f ? v : v * \(literal(slope))", "v > 0.0f ? 1.0f : \(literal(slope))")
    case .sigmoid: return (sigmoid, "\(sigmoid) * (1.0f - \(sigmoid))")
    case .tanh: return ("tanhf(v)", "1.0f - tanhf(v) * tanhf(v)")
    case .gelu:
      return ("0.5f * v * (1.0f + erff(v * 0.70710678118654752f))",
              "0.5f * (1.0f + erff(v * 0.70710678118654752f)) + v * expf(-0.5f * v * v) * 0.3989422804014327f")
    case .silu: return ("v / (1.0f + expf(-v))", "\(sigmoid) * (1.0f + v * (1.0f - \(sigmoid)))")
    default: preconditionFailure("\(op.mnemonic) is not an activation")
    }
  }

  static func literal(_ value: Float) -> String {
    let text = "\(value)"
    return (text.contains(".") || text.contains("e") ? text : text + ".0") + "f"
  }

  static func unary(_ x: String, _ y: String, _ count: Int, _ expression: String, parts: Int = 1) -> String {
    "  const float *x = \(x);\n" + y + rowLoop(rows: count, parts: parts) { r, _ in
      "  for (long i = \(r.from); i < \(r.to); i++) {\n    const float v = x[i];\n    y[i] = \(expression);\n  }\n"
    }
  }

  /// Each output dimension's stride in an operand of shape `s` NumPy-broadcast to `out` (0 where it broadcasts).
  static func broadcastStrides(_ s: [Int], _ out: [Int]) -> [Int] {
    let padded = Array(repeating: 1, count: out.count - s.count) + s
    var result = Array(repeating: 0, count: out.count), step = 1
    for d in stride(from: out.count - 1, through: 0, by: -1) {
      result[d] = padded[d] == 1 ? 0 : step
      step *= padded[d]
    }
    return result
  }

  /// Same shapes: one flat loop. Otherwise a loop nest over the output with zero strides where an operand broadcasts.
  static func binary(_ a: String, _ b: String, _ sa: [Int], _ sb: [Int], _ out: [Int], _ y: String, _ op: String) -> String {
    var body = "  const float *a = \(a), *b = \(b);\n" + y
    if sa == out && sb == out {
      return body + "  for (long i = 0; i < \(out.reduce(1, *)); i++) y[i] = a[i] \(op) b[i];\n"
    }
    let (ta, tb, ty) = (broadcastStrides(sa, out), broadcastStrides(sb, out), broadcastStrides(out, out))
    var indexA: [String] = [], indexB: [String] = [], indexY: [String] = []
    for d in out.indices {
      body += String(repeating: "  ", count: d + 1) + "for (long i\(d) = 0; i\(d) < \(out[d]); i\(d)++)\n"
      if ta[d] != 0 { indexA.append("i\(d) * \(ta[d])") }
      if tb[d] != 0 { indexB.append("i\(d) * \(tb[d])") }
      indexY.append("i\(d) * \(ty[d])")
    }
    func join(_ terms: [String]) -> String { terms.isEmpty ? "0" : terms.joined(separator: " + ") }
    return body + String(repeating: "  ", count: out.count + 1)
      + "y[\(join(indexY))] = a[\(join(indexA))] \(op) b[\(join(indexB))];\n"
  }
}
