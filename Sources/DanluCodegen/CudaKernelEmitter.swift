import DanluDiagnostics
import DanluIR

/// Each node's CUDA kernel (`device`, one thread per output element, or per row for reductions and pooling windows)
/// and the host code that launches it (`host`, pointers computed from the launcher's device `params`, `inputs` and
/// `arena`). Sizes are literals, as in the C kernels; the arithmetic is the C kernels' own, so both targets agree.
enum CudaKernelEmitter {
  /// - Parameter columnFloats: the im2col column buffer's size in floats (`CudaEmitter.emit`).
  static func kernel(_ graph: Graph, _ index: Int, _ plan: StoragePlan, columnFloats: Int) throws(DiagnosticError)
    -> (device: String, host: String)?
  {
    let context = KernelContext(graph, index, plan)
    let (node, out, count) = (context.node, context.out, context.count)
    let name = "g\(index)"
    func x(_ i: Int) -> String { context.x(i) }
    func shape(_ i: Int) -> [Int] { context.shape(i) }
    let y = plan.reference(index)
    /// A kernel over `threads` threads with these pointer parameters (`y` first) and body (`t` is the thread).
    func elementwise(_ inputs: [String], threads: Int = count, _ body: String) -> (device: String, host: String) {
      let parameters = (["float *y"] + inputs.indices.map { "const float *in\($0)" }).joined(separator: ", ")
      let device = "__global__ void \(name)(\(parameters)) {\n  const long t = DANLU_THREAD;\n"
        + "  if (t >= \(threads)) return;\n" + body + "}\n"
      return (device, "  DANLU_LAUNCH(\(name), \(threads), \(([y] + inputs).joined(separator: ", ")));\n")
    }

    switch node.op {
    case .input, .parameter, .buffer, .reshape:
      return nil
    case .fill(let value):
      return elementwise([], "  y[t] = \(KernelEmitter.literal(value));\n")
    case .sinusoid:
      let width = out[1]
      return elementwise([], """
          const long p = t / \(width), i = t % \(width), even = i - i % 2;
          const double angle = p / pow(10000.0, (double)even / \(width).0);
          y[t] = (float)(i % 2 == 0 ? sin(angle) : cos(angle));

        """)
    case .relu, .leakyRelu, .sigmoid, .tanh, .gelu, .silu:
      return elementwise([x(0)], "  const float v = in0[t];\n  y[t] = \(KernelEmitter.unaryExpression(node.op));\n")
    case .dropout, .packPanels:
      // Packed panels are the CPU backend's storage order; here the weight stays as it is (cuBLAS reads it so).
      return elementwise([x(0)], "  y[t] = in0[t];\n")
    case .add, .mul:
      let op = { if case .add = node.op { "+" } else { "*" } }()
      return elementwise([x(0), x(1)], broadcastIndices(shape(0), shape(1), out) + "  y[t] = in0[ia] \(op) in1[ib];\n")
    case .biasAdd(let axis):
      let channels = out[axis], inner = out[(axis + 1)...].reduce(1, *)
      return elementwise([x(0), x(1)], "  y[t] = in0[t] + in1[(t / \(inner)) % \(channels)];\n")
    case .batchNorm(let eps):
      let channels = out[1], inner = out[2...].reduce(1, *)
      return elementwise([x(0), x(1), x(2), x(3), x(4)], """
          const long c = (t / \(inner)) % \(channels);
          const float scale = in1[c] / sqrtf(in4[c] + \(KernelEmitter.literal(eps))), shift = in2[c] - in3[c] * scale;
          y[t] = in0[t] * scale + shift;

        """)
    case .embedding:
      let (rows, width) = (shape(1)[0], shape(1)[1])
      return elementwise([x(0), x(1)], """
          const float id = in0[t / \(width)];
          const int valid = id >= 0.0f && id < \(rows).0f && id == (float)(long)id;
          y[t] = valid ? in1[(long)id * \(width) + t % \(width)] : NAN;  /* PyTorch raises; never another row */

        """)
    case .layerNorm(let eps):
      // One thread per row: the mean, then the mean square deviation, summed in double.
      let length = out.last!
      return elementwise([x(0), x(1), x(2)], threads: count / max(1, length), """
          const float *row = in0 + t * \(length);
          double sum = 0.0;
          for (long k = 0; k < \(length); k++) sum += row[k];
          const float mu = (float)(sum / \(length).0);
          sum = 0.0;
          for (long k = 0; k < \(length); k++) sum += (double)((row[k] - mu) * (row[k] - mu));
          const float inv = (float)(1.0 / sqrt(sum / \(length).0 + \(Double(eps))));
          for (long k = 0; k < \(length); k++) y[t * \(length) + k] = (row[k] - mu) * inv * in1[k] + in2[k];

        """)
    case .maxPool2d(let p), .avgPool2d(let p):
      let isMax: Bool = { if case .maxPool2d = node.op { true } else { false } }()
      return elementwise([x(0)], pool(shape(0), out, p, isMax: isMax))
    case .adaptiveAvgPool2d:
      let s = shape(0)
      return elementwise([x(0)], """
          const long plane = t / \(out[2] * out[3]), oy = (t / \(out[3])) % \(out[2]), ox = t % \(out[3]);
          const long y0 = oy * \(s[2]) / \(out[2]), y1 = ((oy + 1) * \(s[2]) + \(out[2] - 1)) / \(out[2]);
          const long x0 = ox * \(s[3]) / \(out[3]), x1 = ((ox + 1) * \(s[3]) + \(out[3] - 1)) / \(out[3]);
          float sum = 0.0f;
          for (long iy = y0; iy < y1; iy++)
            for (long ix = x0; ix < x1; ix++) sum += in0[(plane * \(s[2]) + iy) * \(s[3]) + ix];
          y[t] = sum / (float)((y1 - y0) * (x1 - x0));

        """)
    case .softmax(let axis), .logSoftmax(let axis):
      let isLog: Bool = { if case .logSoftmax = node.op { true } else { false } }()
      let length = out[axis], inner = out[(axis + 1)...].reduce(1, *)
      let finish = isLog ? "y[base + k * \(inner)] = in0[base + k * \(inner)] - peak - logf(total);"
        : "y[base + k * \(inner)] = expf(in0[base + k * \(inner)] - peak) / total;"
      return elementwise([x(0)], threads: count / length, """
          const long base = (t / \(inner)) * \(length * inner) + t % \(inner);
          float peak = -INFINITY, total = 0.0f;
          for (long k = 0; k < \(length); k++) peak = fmaxf(peak, in0[base + k * \(inner)]);
          for (long k = 0; k < \(length); k++) total += expf(in0[base + k * \(inner)] - peak);
          for (long k = 0; k < \(length); k++) \(finish)

        """)
    case .slice(let axis, let start, _):
      let s = shape(0), inner = out[(axis + 1)...].reduce(1, *)
      let (chunk, total) = (out[axis] * inner, s[axis] * inner)
      let first = (start < 0 ? s[axis] + start : start) * inner
      return elementwise([x(0)], "  y[t] = in0[(t / \(chunk)) * \(total) + \(first) + t % \(chunk)];\n")
    case .concat(let axis):
      let inner = out[(axis + 1)...].reduce(1, *)
      let chunks = node.operands.indices.map { shape($0)[axis] * inner }
      var body = "  const long o = t / \(chunks.reduce(0, +));\n  long r = t % \(chunks.reduce(0, +));\n"
      for (i, chunk) in chunks.enumerated() {
        body += "  if (r < \(chunk)) { y[t] = in\(i)[o * \(chunk) + r]; return; }\n  r -= \(chunk);\n"
      }
      return elementwise(node.operands.indices.map { x($0) }, body)
    case .matmul(let transposeB):
      return (device: "", host: gemm(x(0), x(1), shape(0), shape(1), transposeB: transposeB, y))
    case .conv2d(let a):
      return convolution(graph, index, a, plan, epilogue: nil, columnFloats: columnFloats)
    case .fused(let group):
      return fused(graph, index, group, plan, columnFloats: columnFloats)
    case .recurrent(let r):
      return CudaSequenceEmitter.recurrent(r, context, index: index, scratch: "d_columns")
    case .attention(let a):
      return CudaSequenceEmitter.attention(a, context, index: index)
    case .training:
      throw DiagnosticError(.targetUnsupported(layer: node.name, op: node.op.mnemonic, target: "cuda"), at: node.location)
    }
  }

  /// `ia`, `ib`: the operands' elements for output element `t`, with zero strides where one broadcasts.
  static func broadcastIndices(_ sa: [Int], _ sb: [Int], _ out: [Int]) -> String {
    if sa == out && sb == out { return "  const long ia = t, ib = t;\n" }
    let (ta, tb) = (KernelEmitter.broadcastStrides(sa, out), KernelEmitter.broadcastStrides(sb, out))
    var body = "  long rest = t, ia = 0, ib = 0;\n"
    for d in stride(from: out.count - 1, through: 0, by: -1) {
      body += "  { const long i = rest % \(out[d]); rest /= \(out[d]); ia += i * \(ta[d]); ib += i * \(tb[d]); }\n"
    }
    return body + "  (void)rest;\n"
  }

  /// One pooling window per thread, as the C kernel's `pool`.
  static func pool(_ s: [Int], _ out: [Int], _ p: PoolAttributes, isMax: Bool) -> String {
    let (h, w, oh, ow) = (s[2], s[3], out[2], out[3])
    var body = """
        const long plane = t / \(oh * ow), oy = (t / \(ow)) % \(oh), ox = t % \(ow);
        const long y0 = oy * \(p.stride[0]) - \(p.padding[0]), x0 = ox * \(p.stride[1]) - \(p.padding[1]);
        float acc = \(isMax ? "-INFINITY" : "0.0f");
        long count = 0;

      """
    body += KernelEmitter.poolWindow(p, h: h, w: w, "const float v = in0[(plane * \(h) + iy) * \(w) + ix];\n"
                                     + "            \(isMax ? "acc = v > acc ? v : acc;" : "acc += v;") count++;")
    if isMax { return body + "  (void)count;\n  y[t] = acc;\n" }
    return body + "  y[t] = acc / \(KernelEmitter.averageDivisor(p, h: h, w: w));\n"
  }

  /// `y = a · bᵀ` (or `a · b`) through cuBLAS.
  static func gemm(_ a: String, _ b: String, _ sa: [Int], _ sb: [Int], transposeB: Bool, _ y: String) -> String {
    let k = sa.last!, n = sb[transposeB ? 0 : 1], m = sa.reduce(1, *) / k
    return "  danlu_gemm(0, \(transposeB ? 1 : 0), \(m), \(n), \(k), \(a), \(k), \(b), \(transposeB ? k : n), 0.0f, \(y), \(n));\n"
  }

  /// Images per launch of convolution `g`'s im2col and batched GEMM (all of them when their columns fit).
  static func imagesPerLaunch(_ g: ConvGeometry, columnFloats: Int) -> Int {
    max(1, min(g.n, columnFloats / max(1, g.k * g.spatial)))
  }

  /// Convolution: per group and chunk of images, one im2col launch over all their columns (one thread per column
  /// element; none for 1×1 stride 1) into the device's column buffer (`d_columns`, sized by `columnBufferFloats`;
  /// recurrences keep their projections there too),
  /// then one strided-batched cuBLAS GEMM writing every image's output in place, then the fused epilogue (if any) over
  /// the whole output. (Winograd is a CPU choice; on the GPU every convolution takes this path.) Run per image, as
  /// before, ResNet-18 at batch 64 took 128 launches for each convolution.
  static func convolution(_ graph: Graph, _ index: Int, _ a: Conv2dAttributes, _ plan: StoragePlan,
                          epilogue: (device: String, host: String)?, columnFloats: Int) -> (device: String, host: String) {
    let node = graph.nodes[index]
    let (sx, sw, out) = (graph.nodes[node.operands[0]].type.staticShape!, graph.nodes[node.operands[1]].type.staticShape!,
                         node.type.staticShape!)
    let g = ConvGeometry(x: sx, weight: sw, y: out, groups: a.groups)
    let pointwise = a.isPointwise(kernel: [g.kh, g.kw])
    let images = imagesPerLaunch(g, columnFloats: columnFloats), (image, columns) = (g.c * g.h * g.w, g.k * g.spatial)
    var device = ""
    var host = "  const float *x = \(plan.reference(node.operands[0])), *w = \(plan.reference(node.operands[1]));\n"
      + "  float *y = \(plan.reference(index));\n"
      + "  for (long g = 0; g < \(g.groups); g++)\n    for (long n0 = 0; n0 < \(g.n); n0 += \(images)) {\n"
      + "      const int count = (int)(n0 + \(images) <= \(g.n) ? \(images) : \(g.n) - n0);\n"
      + "      const float *xin = x + (n0 * \(g.c) + g * \(g.cg)) * \(g.h * g.w);\n"
    let operandStride: Int
    if pointwise {
      host += "      const float *operand = xin;\n"
      operandStride = image
    } else {
      device += """
        __global__ void g\(index)_im2col(float *cols, const float *xin, long count) {
          const long t = DANLU_THREAD;
          if (t >= count * \(columns)) return;
          const long b = t / \(columns), within = t % \(columns);
          const long row = within / \(g.spatial), column = within % \(g.spatial);
          const long ic = row / \(g.kh * g.kw), ky = (row / \(g.kw)) % \(g.kh), kx = row % \(g.kw);
          const long oy = column / \(g.ow), ox = column % \(g.ow);
          const long iy = oy * \(a.stride[0]) - \(a.padding[0]) + ky * \(a.dilation[0]);
          const long ix = ox * \(a.stride[1]) - \(a.padding[1]) + kx * \(a.dilation[1]);
          cols[t] = iy >= 0 && iy < \(g.h) && ix >= 0 && ix < \(g.w) ? xin[b * \(image) + (ic * \(g.h) + iy) * \(g.w) + ix] : 0.0f;
        }

        """
      host += "      DANLU_LAUNCH(g\(index)_im2col, count * \(columns)L, d_columns, xin, (long)count);\n"
        + "      const float *operand = d_columns;\n"
      operandStride = columns
    }
    host += "      danlu_gemm_batched(0, 0, \(g.og), \(g.spatial), \(g.k), w + g * \(g.og * g.k), \(g.k), 0, operand, \(g.spatial), "
      + "\(operandStride), 0.0f, y + (n0 * \(g.o) + g * \(g.og)) * \(g.spatial), \(g.spatial), \(g.o * g.spatial), count);\n    }\n"
    if let epilogue {
      device += epilogue.device
      host += epilogue.host
    }
    return (device, host)
  }

  /// Floats the device's im2col column buffer needs: the most any convolution's chunk of images fills (at least 1).
  static func columnBufferFloats(_ graph: Graph, columnFloats: Int) -> Int {
    var most = 1
    for index in graph.nodes.indices {
      // A recurrence keeps its input projection of every step and one step's hidden projection here
      // (`CudaSequenceEmitter.recurrent`); the memory plan's scratch is sized for the C backend's fused steps.
      if case .recurrent(let r) = graph.nodes[index].op, let x = graph.nodes[graph.nodes[index].operands[0]].type.staticShape {
        most = max(most, (x[0] * x[1] + (r.batchFirst ? x[0] : x[1])) * r.gates * r.hidden)
      }
      guard let conv = graph.forwardConvolution(index) else { continue }
      let g = ConvGeometry(x: conv.input, weight: conv.weight, y: conv.output, groups: conv.attributes.groups)
      if !conv.attributes.isPointwise(kernel: [g.kh, g.kw]) {
        most = max(most, imagesPerLaunch(g, columnFloats: columnFloats) * g.k * g.spatial)
      }
    }
    return most
  }

  /// A fused group: its anchor, then one kernel applying the epilogue to every output element (`v`, at flat index
  /// `idx`, channel `c`), with the group's operands as `op0`, `op1`, ….
  static func fused(_ graph: Graph, _ index: Int, _ group: FusedGroup, _ plan: StoragePlan, columnFloats: Int)
    -> (device: String, host: String)
  {
    let node = graph.nodes[index]
    let out = node.type.staticShape!, count = out.reduce(1, *)
    let operands = node.operands.map { plan.reference($0) }
    let steps = group.epilogue.enumerated().map { k, step in "  " + statement(step, k, group) }.joined(separator: "\n")
    let channel: String, source: String
    switch group.anchor {
    case .conv2d: (channel, source) = ("(idx / \(out[2...].reduce(1, *))) % \(out[1])", "y[idx]")
    case .matmul: (channel, source) = ("idx % \(out.last!)", "y[idx]")
    case .elementwise:
      let axis = FusedKernelEmitter.channelAxis(group)
      (channel, source) = ("(idx / \(out[(axis + 1)...].reduce(1, *))) % \(out[axis])", "op0[idx]")
    }
    let parameters = (["float *y"] + operands.indices.map { "const float *op\($0)" }).joined(separator: ", ")
    let epilogue = (
      device: """
        __global__ void g\(index)_epilogue(\(parameters)) {
          const long idx = DANLU_THREAD;
          if (idx >= \(count)) return;
          const long c = \(channel);
          (void)c;
          float v = \(source);
        \(steps)
          y[idx] = v;
        }

        """,
      host: "  DANLU_LAUNCH(g\(index)_epilogue, \(count), \(([plan.reference(index)] + operands).joined(separator: ", ")));\n")
    switch group.anchor {
    case .conv2d(let a):
      return convolution(graph, index, a, plan, epilogue: epilogue, columnFloats: columnFloats)
    case .matmul(let transposeB):
      let (sa, sb) = (graph.nodes[node.operands[0]].type.staticShape!, graph.nodes[node.operands[1]].type.staticShape!)
      return (epilogue.device, gemm(operands[0], operands[1], sa, sb, transposeB: transposeB, plan.reference(index)) + epilogue.host)
    case .elementwise:
      return epilogue
    }
  }

  /// One epilogue step on `v`, as `FusedKernelEmitter.statement`; batch norm computes its scale and shift in place
  /// (the C kernel computes them once per call).
  static func statement(_ step: FusedGroup.Step, _ k: Int, _ group: FusedGroup) -> String {
    switch step {
    case .batchNorm(let eps, let i):
      return "{ const float s = op\(i)[c] / sqrtf(op\(i + 3)[c] + \(KernelEmitter.literal(eps))); "
        + "v = v * s + (op\(i + 1)[c] - op\(i + 2)[c] * s); }"
    default:
      return FusedKernelEmitter.statement(step, k)
    }
  }
}
