import DanluDiagnostics

/// Result types of every op from its operand types. Errors are user diagnostics: they carry the layer path,
/// the op and every shape involved, because a shape mismatch is almost always a mistake in the spec.
public enum ShapeInference {
  public static func infer(_ op: Op, _ operands: [TensorType], layer: String, at location: SourceLocation)
    throws(DiagnosticError) -> TensorType
  {
    func fail(_ detail: String) -> DiagnosticError {
      DiagnosticError(.shapeMismatch(layer: layer, op: op.mnemonic, shapes: operands.map(\.description), detail: detail),
                      at: location)
    }
    func requireRank(_ t: TensorType, _ rank: Int, _ what: String) throws(DiagnosticError) {
      guard t.rank == rank else { throw fail("\(what) must have rank \(rank), got \(t)") }
    }

    switch op {
    case .input, .parameter, .buffer, .fill, .sinusoid:
      preconditionFailure("leaves have no inferred type; use Graph.addLeaf")
    case .relu, .leakyRelu, .sigmoid, .tanh, .gelu, .silu, .dropout:
      return operands[0]
    case .softmax(let axis), .logSoftmax(let axis):
      guard (0..<operands[0].rank).contains(axis) else { throw fail("axis \(axis) out of range") }
      return operands[0]

    case .add, .mul:
      let (a, b) = (operands[0].shape, operands[1].shape)
      let rank = max(a.count, b.count)
      var shape: [Dim] = []
      for i in 0..<rank {
        let x = i < rank - a.count ? Dim.int(1) : a[i - (rank - a.count)]
        let y = i < rank - b.count ? Dim.int(1) : b[i - (rank - b.count)]
        if x == y || y == 1 { shape.append(x) } else if x == 1 { shape.append(y) } else {
          throw fail("dimensions \(x) and \(y) cannot be broadcast together")
        }
      }
      return TensorType(operands[0].dtype, shape)

    case .matmul(let transposeB):
      let (a, b) = (operands[0], operands[1])
      guard a.rank >= 1 else { throw fail("the left operand must have rank ≥ 1") }
      try requireRank(b, 2, "the weight")
      let k = a.shape[a.rank - 1]
      let (bk, m) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
      guard k == bk else { throw fail("the input has \(k) features but the weight expects \(bk)") }
      return TensorType(a.dtype, Array(a.shape.dropLast()) + [m])

    case .packPanels:
      guard operands[0].rank >= 2 else { throw fail("the weight must have rank ≥ 2, got \(operands[0])") }
      return operands[0]

    case .biasAdd(let axis):
      let (x, b) = (operands[0], operands[1])
      guard (0..<x.rank).contains(axis) else { throw fail("axis \(axis) out of range") }
      try requireRank(b, 1, "the bias")
      guard b.shape[0] == x.shape[axis] else { throw fail("bias of size \(b.shape[0]) for \(x.shape[axis]) channels") }
      return x

    case .conv2d(let a):
      let (x, w) = (operands[0], operands[1])
      try requireRank(x, 4, "the input (N, C, H, W)")
      try requireRank(w, 4, "the weight")
      guard w.shape[1] * .int(a.groups) == x.shape[1] else {
        throw fail("the input has \(x.shape[1]) channels but the weight expects \(w.shape[1] * .int(a.groups))")
      }
      guard let kh = w.shape[2].staticValue, let kw = w.shape[3].staticValue else { throw fail("kernel must be static") }
      let h = outputSize(x.shape[2], kernel: kh, stride: a.stride[0], padding: a.padding[0], dilation: a.dilation[0])
      let wo = outputSize(x.shape[3], kernel: kw, stride: a.stride[1], padding: a.padding[1], dilation: a.dilation[1])
      for d in [h, wo] where (d.staticValue ?? 1) < 1 {
        throw fail("the kernel (\(kh)×\(kw)) is larger than the padded input \(x.shape[2])×\(x.shape[3])")
      }
      return TensorType(x.dtype, [x.shape[0], w.shape[0], h, wo])

    case .batchNorm:
      let x = operands[0]
      guard x.rank >= 2 else { throw fail("the input must have rank ≥ 2") }
      for p in operands.dropFirst() where p.shape != [x.shape[1]] {
        throw fail("statistics of shape \(p) for \(x.shape[1]) channels")
      }
      return x

    case .recurrent(let r):
      let x = operands[0]
      try requireRank(x, 3, r.batchFirst ? "the input (N, T, features)" : "the input (T, N, features)")
      let (batch, features) = (x.shape[r.batchFirst ? 0 : 1], x.shape[2])
      let rows = Dim.int(r.gates * r.hidden), hidden = Dim.int(r.hidden)
      let expected: [(String, [Dim])] = [("weight_ih", [rows, features]), ("weight_hh", [rows, hidden]), ("bias_ih", [rows]),
                                          ("bias_hh", [rows]), ("h0", [batch, hidden]), ("c0", [batch, hidden])]
      guard operands.count == r.operandCount else { throw fail("\(r.cell.rawValue) takes \(r.operandCount) operands, got \(operands.count)") }
      for (operand, (name, shape)) in zip(operands.dropFirst(), expected) where operand.shape != shape {
        throw fail("\(name) should be \(TensorType(x.dtype, shape)) for \(r.cell.rawValue)(\(r.hidden)) on \(x), got \(operand)")
      }
      var shape = x.shape
      shape[2] = .int(r.stateWidth)
      return TensorType(x.dtype, shape)

    case .attention(let a):
      let (q, k, v) = (operands[0], operands[1], operands[2])
      for (name, operand) in [("query", q), ("key", k), ("value", v)] {
        try requireRank(operand, 3, a.batchFirst ? "the \(name) (N, S, E)" : "the \(name) (S, N, E)")
      }
      guard k.shape == v.shape, q.shape[2] == k.shape[2], a.batchAndLength(q.shape).batch == a.batchAndLength(k.shape).batch else {
        throw fail("attention needs a query, key and value with one batch and embedding size and keys and values of one "
          + "length, got \(q), \(k) and \(v)")
      }
      guard let width = q.shape[2].staticValue, a.heads > 0, width % a.heads == 0 else {
        throw fail("\(a.heads) heads must divide the embedding size \(q.shape[2])")
      }
      if a.keyPadding {
        let (batch, length) = a.batchAndLength(k.shape)
        guard operands.count == 4, operands[3].shape == [batch, length] else {
          throw fail("the key padding mask should be \(TensorType(q.dtype, [batch, length])) for keys \(k), got "
            + (operands.count == 4 ? "\(operands[3])" : "none"))
        }
      }
      return q

    case .slice(let axis, let start, let length):
      let x = operands[0]
      guard (0..<x.rank).contains(axis), length >= 1 else { throw fail("slice: axis \(axis) of \(x), length \(length)") }
      if let size = x.shape[axis].staticValue {
        let first = start < 0 ? size + start : start
        guard first >= 0, first + length <= size else { throw fail("slice [\(start), +\(length)) is outside axis \(axis) of \(x)") }
      } else if start >= 0 && start + length > 1 {
        // Only the first element is known to exist on an axis of unknown size; count from the end instead.
        throw fail("a slice of the symbolic axis \(axis) of \(x) past its first element counts from its end (a negative start)")
      }
      var shape = x.shape
      shape[axis] = .int(length)
      return TensorType(x.dtype, shape)

    case .embedding:
      let (indices, weight) = (operands[0], operands[1])
      try requireRank(weight, 2, "the weight (num_embeddings, embedding_dim)")
      return TensorType(weight.dtype, indices.shape + [weight.shape[1]])

    case .layerNorm:
      let x = operands[0]
      guard x.rank >= 1, let last = x.shape.last else { throw fail("the input must have rank ≥ 1") }
      for p in operands.dropFirst() where p.shape != [last] {
        throw fail("weight and bias must have the size of the last axis, \(last); got \(p)")
      }
      return x

    case .maxPool2d(let p), .avgPool2d(let p):
      let x = operands[0]
      try requireRank(x, 4, "the input (N, C, H, W)")
      var spatial: [Dim] = []
      for i in 0..<2 {
        let size = outputSize(x.shape[2 + i], kernel: p.kernel[i], stride: p.stride[i], padding: p.padding[i],
                              dilation: p.dilation[i], ceilMode: p.ceilMode)
        if (size.staticValue ?? 1) < 1 {
          throw fail("the window (\(p.kernel[0])×\(p.kernel[1])) is larger than the input \(x.shape[2])×\(x.shape[3])")
        }
        spatial.append(size)
      }
      return TensorType(x.dtype, [x.shape[0], x.shape[1]] + spatial)

    case .adaptiveAvgPool2d(let size):
      let x = operands[0]
      try requireRank(x, 4, "the input (N, C, H, W)")
      return TensorType(x.dtype, [x.shape[0], x.shape[1], .int(size[0]), .int(size[1])])

    case .training(let t):
      return try t.infer(operands, fail: fail)

    case .reshape:
      preconditionFailure("reshape takes its type from the node; use Graph.reshape")

    case .fused(let group):
      var type: TensorType
      switch group.anchor {
      case .conv2d(let a): type = try infer(.conv2d(a), Array(operands[0..<2]), layer: layer, at: location)
      case .matmul(let t): type = try infer(.matmul(transposeB: t), Array(operands[0..<2]), layer: layer, at: location)
      case .elementwise: type = operands[0]
      }
      for step in group.epilogue {
        let extra = group.operands(of: step)
        guard extra.allSatisfy({ operands.indices.contains($0) }) else { throw fail("epilogue operand out of range") }
        let stepType = try infer(group.op(of: step), [type] + extra.map { operands[$0] }, layer: layer, at: location)
        guard stepType == type else { throw fail("an epilogue step may not change the shape (\(type) → \(stepType))") }
      }
      return type

    case .concat(let axis):
      let first = operands[0]
      guard (0..<first.rank).contains(axis) else { throw fail("axis \(axis) out of range") }
      var total = Dim.int(0)
      for t in operands {
        guard t.rank == first.rank else { throw fail("all inputs must have the same rank") }
        for i in 0..<t.rank where i != axis && t.shape[i] != first.shape[i] {
          throw fail("inputs differ in dimension \(i) (\(first.shape[i]) and \(t.shape[i]))")
        }
        total = total + t.shape[axis]
      }
      var shape = first.shape
      shape[axis] = total
      return TensorType(first.dtype, shape)
    }
  }

  /// PyTorch's output size for convolution and pooling windows.
  public static func outputSize(_ input: Dim, kernel: Int, stride: Int, padding: Int, dilation: Int,
                                ceilMode: Bool = false) -> Dim {
    let span = dilation * (kernel - 1) + 1
    var numerator = input + .int(2 * padding - span)
    if ceilMode { numerator = numerator + .int(stride - 1) }
    var size = numerator.floorDivided(by: stride) + 1
    // PyTorch drops a last window that would start entirely in the right padding.
    if ceilMode, let n = size.staticValue, let i = input.staticValue, (n - 1) * stride >= i + padding {
      size = .int(n - 1)
    }
    return size
  }

  /// The most elements one tensor may hold (4 TiB of f32): beyond it, sizes are a mistake, not a model.
  public static let largestTensor = 1 << 40

  /// Rejects a result with a zero, negative or absurd static size (arithmetic on huge sizes wraps rather than traps).
  public static func checkSize(_ type: TensorType, layer: String, op: String, at location: SourceLocation)
    throws(DiagnosticError)
  {
    var count = 1
    for dim in type.shape {
      guard let size = dim.staticValue else { continue }
      let (product, overflow) = count.multipliedReportingOverflow(by: max(size, 1))
      guard size >= 1, !overflow, product <= largestTensor else {
        throw DiagnosticError(.shapeMismatch(layer: layer, op: op, shapes: [type.description],
                                             detail: "the result would hold \(size < 1 ? "no" : "too many") elements"), at: location)
      }
      count = product
    }
  }

  public static func checkReshape(from source: TensorType, to target: TensorType, layer: String,
                                  at location: SourceLocation) throws(DiagnosticError) {
    let a = source.elementCount, b = target.elementCount
    if a == b { return }
    if let x = a.staticValue, let y = b.staticValue, x == y { return }
    throw DiagnosticError(.shapeMismatch(layer: layer, op: "reshape", shapes: [source.description, target.description],
                                         detail: "element counts differ (\(a) and \(b))"), at: location)
  }
}
