import DanluIR

/// C for a fused kernel group: the anchor (convolution through GEMM, a matrix product, or a plain read) and then
/// the epilogue on each value while it is still in cache. Per-channel batch-norm scale and shift are computed once at
/// kernel entry, so the epilogue costs one multiply-add per element.
enum FusedKernelEmitter {
  static func kernel(_ graph: Graph, _ index: Int, _ group: FusedGroup, _ plan: StoragePlan) -> String {
    let node = graph.nodes[index]
    let out = node.type.staticShape!
    func operand(_ i: Int) -> String { plan.reference(node.operands[i]) }
    func shape(_ i: Int) -> [Int] { graph.nodes[node.operands[i]].type.staticShape! }

    var body = "  float *y = \(plan.reference(index));\n"
    for (k, step) in group.epilogue.enumerated() {
      for i in group.operands(of: step) where !body.contains("*op\(i) ") {
        body += "  const float *op\(i) = \(operand(i));\n"
      }
      if case .batchNorm(let eps, let i) = step {
        let channels = out[1]
        body += """
            float s\(k)[\(channels)], t\(k)[\(channels)];
            for (long c = 0; c < \(channels); c++) {
              s\(k)[c] = op\(i)[c] / sqrtf(op\(i + 3)[c] + \(KernelEmitter.literal(eps)));
              t\(k)[c] = op\(i + 1)[c] - op\(i + 2)[c] * s\(k)[c];
            }

          """
      }
    }
    let layouts = ConvLayouts(graph, index)
    let steps = group.epilogue.enumerated().map { k, step in "        " + statement(step, k, layouts) }
      .joined(separator: "\n")
    let parts = graph.loopParts(index)

    switch group.anchor {
    case .conv2d(let a):
      if let p = graph.packedConvolution(index) {
        return body + PackedGemmEmitter.conv2d(operand(0), operand(1), shape(0), shape(1), out, a, "",
                                               scratch: plan.scratchReference(index), parts: p.parts, steps: steps,
                                               inputBlocked: layouts.input)
      }
      if let blocks = graph.winogradBlocks(index) {
        return body + WinogradBlockedEmitter.conv2d(operand(0), operand(1), shape(0), out, padding: a.padding, "",
                                                    scratch: plan.scratchReference(index), steps: steps, blocks: blocks)
      }
      body += KernelEmitter.conv2d(operand(0), operand(1), shape(0), shape(1), out, a, "", scratch: plan.scratchReference(index),
                                   steps: steps, packedFilters: graph.directConvolution(index)?.filters ?? false,
                                   layouts: layouts)
    case .matmul(let transposeB):
      let w = shape(1)
      let n = transposeB ? w[0] : w[1], m = out.reduce(1, *) / n
      if let p = graph.packedMatmul(index) {
        return body + PackedGemmEmitter.gemm(operand(0), operand(1), m: p.rows, n: p.columns, k: p.depth, parts: p.parts,
                                             steps: steps)
      }
      body += KernelEmitter.gemm(operand(0), operand(1), shape(0), w, transposeB: transposeB)
      // The epilogue, on both threads when it is large (`loopParts`), after OpenBLAS's own have finished the product.
      body += KernelEmitter.rowLoop(rows: m, inner: n, parts: parts) { r, c in matmulEpilogue(rows: r, columns: c, n: n, steps: steps) }
    case .elementwise:
      let axis = channelAxis(group)
      let outer = out[..<axis].reduce(1, *), channels = out[axis], inner = out[(axis + 1)...].reduce(1, *)
      // Rows are (outer, channel) pairs; a row's channel is its index modulo the channels.
      body += "  const float *x = \(operand(0));\n" + KernelEmitter.rowLoop(rows: outer * channels, inner: inner, parts: parts) { r, i in """
          for (long row = \(r.from); row < \(r.to); row++) {
            const long c = row % \(channels);
            for (long i = \(i.from); i < \(i.to); i++) {
              const long idx = row * \(inner) + i;
              float v = x[idx];
        \(steps)
              y[idx] = v;
            }
          }

        """ }
    }
    return body
  }

  /// A matmul's epilogue (`steps`) over rows and columns of its output `y` of `n` columns, in place.
  static func matmulEpilogue(rows: (from: String, to: String), columns: (from: String, to: String), n: Int, steps: String) -> String {
    """
      for (long r = \(rows.from); r < \(rows.to); r++)
        for (long c = \(columns.from); c < \(columns.to); c++) {
          const long idx = r * \(n) + c;
          float v = y[idx];
    \(steps)
          y[idx] = v;
        }

    """
  }

  /// The channel axis of an elementwise group's first per-channel step (0 if none); the fuse pass keeps it unique.
  static func channelAxis(_ group: FusedGroup) -> Int {
    group.epilogue.compactMap { step -> Int? in
      switch step {
      case .biasAdd(let axis, _): return axis
      case .batchNorm: return 1
      default: return nil
      }
    }.first ?? 0
  }

  /// One epilogue step on the running value `v` at flat index `idx` and channel `c`; a residual in another layout
  /// than the output's at `pidx` or `bidx` (`ConvLayouts.index`).
  static func statement(_ step: FusedGroup.Step, _ k: Int, _ layouts: ConvLayouts = .plain) -> String {
    switch step {
    case .biasAdd(_, let i): return "v += op\(i)[c];"
    case .batchNorm: return "v = v * s\(k)[c] + t\(k)[c];"
    case .add(let i): return "v += op\(i)[\(layouts.index(of: i))];"
    case .mul(let i): return "v *= op\(i)[\(layouts.index(of: i))];"
    case .unary(let op): return "v = \(KernelEmitter.unaryExpression(op));"
    }
  }
}
