import DanluDiagnostics
import DanluIR

/// Every friendly layer the spec language knows, by name.
enum LayerCatalog {
  static let all: [String: LayerDefinition] = Dictionary(
    uniqueKeysWithValues: (linearAlgebra + normalization + activations + pooling + shape + combining + RecurrentLayers.all
                        + AttentionLayers.all + TransformerLayers.all).map { ($0.name, $0) })

  // MARK: Linear algebra

  static let linearAlgebra: [LayerDefinition] = [
    LayerDefinition(name: "linear", parameters: [
      .required("out_features", .int), .optional("bias", .bool, .bool(true)), .optional("in_features", .int),
    ]) { (c, x, a) throws(DiagnosticError) in
      // A 4-D input is almost always a missing flatten after a convolution, not a wish to act on the last axis.
      guard (2...3).contains(c.type(x[0]).rank) else {
        throw c.fail("linear", "linear takes (N, features) or (N, T, features), not a \(c.type(x[0]).rank)-D tensor; "
          + "add 'flatten' before it", x)
      }
      let features = try c.staticDim(c.type(x[0]).shape.last ?? 0, of: x[0], what: "linear")
      if a.has("in_features"), a.int("in_features") != features {
        throw c.fail("linear", "in_features=\(a.int("in_features")) but the input has \(features) features", x)
      }
      let bound = 1 / Float(features).squareRoot()
      let weight = try c.parameter("weight", [a.int("out_features"), features], .uniform(bound: bound))
      var y = try c.node(.matmul(transposeB: true), [x[0], weight])
      if a.bool("bias") {
        let bias = try c.parameter("bias", [a.int("out_features")], .uniform(bound: bound))
        y = try c.node(.biasAdd(axis: c.type(y).rank - 1), [y, bias])
      }
      return y
    },
    LayerDefinition(name: "conv2d", parameters: [
      .required("out_channels", .int), .required("kernel", .pair, aliases: ["kernel_size"]),
      .optional("stride", .pair, .int(1)), .optional("padding", .pair, .int(0), minimum: 0),
      .optional("dilation", .pair, .int(1)), .optional("groups", .int, .int(1)), .optional("bias", .bool, .bool(true)),
      .optional("in_channels", .int),
    ]) { (c, x, a) throws(DiagnosticError) in
      guard c.type(x[0]).rank == 4 else { throw c.fail("conv2d", "the input must be N×C×H×W", x) }
      let channels = try c.staticDim(c.type(x[0]).shape[1], of: x[0], what: "conv2d")
      let (out, groups, kernel) = (a.int("out_channels"), a.int("groups"), a.pair("kernel"))
      if a.has("in_channels"), a.int("in_channels") != channels {
        throw c.fail("conv2d", "in_channels=\(a.int("in_channels")) but the input has \(channels) channels", x)
      }
      guard groups > 0, channels % groups == 0, out % groups == 0 else {
        throw c.fail("conv2d", "groups=\(groups) must divide both \(channels) input and \(out) output channels", x)
      }
      let fanIn = channels / groups * kernel[0] * kernel[1]
      let bound = 1 / Float(fanIn).squareRoot()
      let weight = try c.parameter("weight", [out, channels / groups] + kernel, .uniform(bound: bound))
      let attributes = Conv2dAttributes(stride: a.pair("stride"), padding: a.pair("padding"),
                                        dilation: a.pair("dilation"), groups: groups)
      var y = try c.node(.conv2d(attributes), [x[0], weight])
      if a.bool("bias") {
        y = try c.node(.biasAdd(axis: 1), [y, try c.parameter("bias", [out], .uniform(bound: bound))])
      }
      return y
    },
  ]

  // MARK: Normalization

  static let normalization: [LayerDefinition] = [
    LayerDefinition(name: "batchnorm2d", parameters: [
      .optional("eps", .float, .float(1e-5)), .optional("momentum", .float, .float(0.1)),
      .optional("num_features", .int),
    ]) { (c, x, a) throws(DiagnosticError) in
      guard c.type(x[0]).rank == 4 else { throw c.fail("batchnorm2d", "the input must be N×C×H×W", x) }
      let channels = try c.staticDim(c.type(x[0]).shape[1], of: x[0], what: "batchnorm2d")
      if a.has("num_features"), a.int("num_features") != channels {
        throw c.fail("batchnorm2d", "num_features=\(a.int("num_features")) but the input has \(channels) channels", x)
      }
      guard (0...1).contains(a.float("momentum")) else { throw c.fail("batchnorm2d", "momentum=\(a.float("momentum")) must be in [0, 1]", x) }
      if a.float("momentum") != 0.1 { c.batchNormMomentum[c.path.isEmpty ? "running_mean" : c.path + ".running_mean"] = a.float("momentum") }
      var stats: [Int] = []
      for (name, value) in [("weight", Float(1)), ("bias", 0), ("running_mean", 0), ("running_var", 1)] {
        stats.append(try c.parameter(name, [channels], .constant(value), buffer: name.hasPrefix("running_")))
      }
      return try c.node(.batchNorm(epsilon: a.float("eps")), [x[0]] + stats)
    },
    // nn.Embedding(V, D): indices (integers stored as f32) of any shape → that shape + [D]; weight N(0, 1).
    LayerDefinition(name: "embedding", parameters: [.required("num_embeddings", .int), .required("embedding_dim", .int)]) {
      (c, x, a) throws(DiagnosticError) in
      let table = try c.parameter("weight", [a.int("num_embeddings"), a.int("embedding_dim")], .normal(std: 1))
      return try c.node(.embedding, [x[0], table])
    },
    // nn.LayerNorm(D) over the last axis; normalized_shape is inferred from the input, or checked when given.
    LayerDefinition(name: "layer_norm", parameters: [
      .optional("normalized_shape", .int), .optional("eps", .float, .float(1e-5)),
      .optional("elementwise_affine", .bool, .bool(true)),
    ]) { (c, x, a) throws(DiagnosticError) in
      guard let lastDim = c.type(x[0]).shape.last else { throw c.fail("layer_norm", "the input must have rank ≥ 1", x) }
      let last = try c.staticDim(lastDim, of: x[0], what: "layer_norm")
      if a.has("normalized_shape"), a.int("normalized_shape") != last {
        throw c.fail("layer_norm", "normalized_shape=\(a.int("normalized_shape")) but the last axis has \(last) elements", x)
      }
      guard a.float("eps") > 0 else { throw c.fail("layer_norm", "eps=\(a.float("eps")) must be positive", x) }
      var affine: [Int] = []
      for (name, value) in [("weight", Float(1)), ("bias", 0)] {
        affine.append(a.bool("elementwise_affine")
          ? try c.parameter(name, [last], .constant(value))
          : c.graph.addLeaf(.fill(value), type: TensorType(.f32, [.int(last)]), name: c.path, location: c.location))
      }
      return try c.node(.layerNorm(epsilon: a.float("eps")), [x[0]] + affine)
    },
  ]

  // MARK: Activations

  static let activations: [LayerDefinition] = [
    unary("relu", .relu), unary("sigmoid", .sigmoid), unary("tanh", .tanh), unary("gelu", .gelu), unary("silu", .silu),
    LayerDefinition(name: "leaky_relu", parameters: [.optional("negative_slope", .float, .float(0.01), minimum: nil)]) {
      (c, x, a) throws(DiagnosticError) in try c.node(.leakyRelu(slope: a.float("negative_slope")), x)
    },
    LayerDefinition(name: "softmax", parameters: [.optional("dim", .int, .int(-1), minimum: nil)]) { (c, x, a) throws(DiagnosticError) in
      try c.node(.softmax(axis: try axis(a.int("dim"), c, x[0], "softmax")), x)
    },
    LayerDefinition(name: "log_softmax", parameters: [.optional("dim", .int, .int(-1), minimum: nil)]) {
      (c, x, a) throws(DiagnosticError) in
      try c.node(.logSoftmax(axis: try axis(a.int("dim"), c, x[0], "log_softmax")), x)
    },
    // The identity at inference (`strip-dropout`); training masks it (`TrainingMode`).
    LayerDefinition(name: "dropout", parameters: [.optional("p", .float, .float(0.5))]) { (c, x, a) throws(DiagnosticError) in
      guard (0..<1).contains(a.float("p")) else { throw c.fail("dropout", "p=\(a.float("p")) must be in [0, 1)", x) }
      return a.float("p") == 0 ? x[0] : try c.node(.dropout(p: a.float("p")), x)
    },
    LayerDefinition(name: "identity", parameters: []) { (_, x, _) in x[0] },
  ]

  static func unary(_ name: String, _ op: Op) -> LayerDefinition {
    LayerDefinition(name: name, parameters: []) { (c, x, _) throws(DiagnosticError) in try c.node(op, x) }
  }

  static func axis(_ dim: Int, _ c: LoweringContext, _ x: Int, _ op: String) throws(DiagnosticError) -> Int {
    let rank = c.type(x).rank
    guard (-rank..<rank).contains(dim) else { throw c.fail(op, "dim=\(dim) is out of range for rank \(rank)", [x]) }
    return dim < 0 ? dim + rank : dim
  }

  // MARK: Pooling

  static let pooling: [LayerDefinition] = [
    LayerDefinition(name: "maxpool2d", parameters: [
      .required("kernel", .pair, aliases: ["kernel_size"]), .optional("stride", .pair), .optional("padding", .pair, .int(0), minimum: 0),
      .optional("dilation", .pair, .int(1)), .optional("ceil_mode", .bool, .bool(false)),
    ]) { (c, x, a) throws(DiagnosticError) in
      try c.node(.maxPool2d(try pool(a, c, x, "maxpool2d", dilation: a.pair("dilation"))), x)
    },
    LayerDefinition(name: "avgpool2d", parameters: [
      .required("kernel", .pair, aliases: ["kernel_size"]), .optional("stride", .pair), .optional("padding", .pair, .int(0), minimum: 0),
      .optional("ceil_mode", .bool, .bool(false)), .optional("count_include_pad", .bool, .bool(true)),
    ]) { (c, x, a) throws(DiagnosticError) in
      var p = try pool(a, c, x, "avgpool2d", dilation: [1, 1])
      p.countIncludePad = a.bool("count_include_pad")
      return try c.node(.avgPool2d(p), x)
    },
    LayerDefinition(name: "adaptive_avgpool2d", parameters: [.required("output_size", .pair)]) {
      (c, x, a) throws(DiagnosticError) in
      let size = a.pair("output_size")
      guard c.type(x[0]).rank == 4 else { throw c.fail("adaptive_avgpool2d", "the input must be N×C×H×W", x) }
      guard size.allSatisfy({ $0 > 0 }) else { throw c.fail("adaptive_avgpool2d", "output_size must be positive", x) }
      return try c.node(.adaptiveAvgPool2d(outputSize: size), x)
    },
  ]

  static func pool(_ a: Arguments, _ c: LoweringContext, _ x: [Int], _ op: String, dilation: [Int])
    throws(DiagnosticError) -> PoolAttributes
  {
    let kernel = a.pair("kernel"), padding = a.pair("padding")
    guard kernel.allSatisfy({ $0 > 0 }) else { throw c.fail(op, "the kernel must be positive", x) }
    guard zip(padding, kernel).allSatisfy({ $0 * 2 <= $1 }) else {
      throw c.fail(op, "padding \(padding) must be at most half the kernel \(kernel)", x)
    }
    return PoolAttributes(kernel: kernel, stride: a.has("stride") ? a.pair("stride") : kernel, padding: padding,
                          dilation: dilation, ceilMode: a.bool("ceil_mode"))
  }

  // MARK: Shape

  static let shape: [LayerDefinition] = [
    LayerDefinition(name: "flatten", parameters: [.optional("start_dim", .int, .int(1), minimum: nil),
                                                  .optional("end_dim", .int, .int(-1), minimum: nil)]) {
      (c, x, a) throws(DiagnosticError) in
      let shape = c.type(x[0]).shape
      let start = try axis(a.int("start_dim"), c, x[0], "flatten"), end = try axis(a.int("end_dim"), c, x[0], "flatten")
      guard start <= end else { throw c.fail("flatten", "start_dim comes after end_dim", x) }
      let merged = shape[start...end].reduce(Dim.int(1), *)
      return try c.graph.reshape(x[0], to: Array(shape[..<start]) + [merged] + Array(shape[(end + 1)...]),
                                 name: c.path, location: c.location)
    },
    LayerDefinition(name: "reshape", parameters: [.required("shape", .dims)]) { (c, x, a) throws(DiagnosticError) in
      var target = a.dims("shape")
      if let hole = target.firstIndex(of: .int(-1)) {
        let known = target.enumerated().filter { $0.offset != hole }.reduce(Dim.int(1)) { $0 * $1.element }
        guard let inferred = quotient(c.type(x[0]).elementCount, known) else {
          throw c.fail("reshape", "cannot infer the -1 dimension; write every dimension", x)
        }
        target[hole] = inferred
      }
      return try c.graph.reshape(x[0], to: target, name: c.path, location: c.location)
    },
  ]

  /// `total / known` when it divides exactly: constants, or `X*k` by a constant dividing k.
  static func quotient(_ total: Dim, _ known: Dim) -> Dim? {
    if total == known { return .int(1) }
    guard let divisor = known.staticValue, divisor > 0 else { return nil }
    switch total {
    case .int(let v) where v % divisor == 0: return .int(v / divisor)
    case .mul(let x, .int(let k)) where k % divisor == 0: return x * .int(k / divisor)
    default: return nil
    }
  }

  // MARK: Combining tensors

  static let combining: [LayerDefinition] = [
    LayerDefinition(name: "add", parameters: [], inputs: .two) { (c, x, _) throws(DiagnosticError) in try c.node(.add, x) },
    LayerDefinition(name: "mul", parameters: [], inputs: .two) { (c, x, _) throws(DiagnosticError) in try c.node(.mul, x) },
    LayerDefinition(name: "concat", parameters: [.optional("dim", .int, .int(1), minimum: nil)], inputs: .many) {
      (c, x, a) throws(DiagnosticError) in
      try c.node(.concat(axis: try axis(a.int("dim"), c, x[0], "concat")), x)
    },
    // torch.narrow(x, dim, start, length); a negative start counts from the end (the last time step: -1, 1).
    LayerDefinition(name: "narrow", parameters: [.required("dim", .int, minimum: nil), .required("start", .int, minimum: nil),
                                                 .required("length", .int)]) { (c, x, a) throws(DiagnosticError) in
      try c.node(.slice(axis: try axis(a.int("dim"), c, x[0], "narrow"), start: a.int("start"), length: a.int("length")), x)
    },
  ]
}
