import DanluDiagnostics

/// The ops training adds: losses (scalar results, shape [1]) and the gradient ops that reverse-mode autodiff emits.
/// Each gradient op names the forward op it reverses; `Autodiff`'s rule table says which one each op needs.
public enum TrainingOp: Hashable, Sendable {
  // MARK: Losses: (prediction, target) → [1], and their gradient with respect to the prediction (the chain's seed)
  case loss(Loss)
  case lossGrad(Loss)

  // MARK: Gradients of forward ops
  /// (dy, x) → dy · f′(x) for an elementwise activation f.
  indirect case activationGrad(Op)
  /// (a[…, M], b[…, K]) → aᵀ·b of shape [M, K], every leading dimension summed: the weight gradient of a product.
  case matmulTransposeA
  /// (dy) → the sum of dy over every axis except `axis`: the gradient of a bias.
  case biasGrad(axis: Int)
  /// (dy, w) → dx of shape [N, C, inputSize…]: the transposed convolution.
  case conv2dInputGrad(Conv2dAttributes, inputSize: [Int])
  /// (dy, x) → dw of shape [O, C/groups, kernel…].
  case conv2dWeightGrad(Conv2dAttributes, kernel: [Int])
  /// (dy, x) → dx: each window's gradient goes to its maximum (the first one, on ties, as PyTorch).
  case maxPool2dGrad(PoolAttributes)
  /// (dy, x) → dx: each window's gradient spread over the elements its divisor counted.
  case avgPool2dGrad(PoolAttributes)
  /// (dy, x) → dx for softmax (`log: false`) or log-softmax, from the forward's output recomputed from x.
  case softmaxGrad(axis: Int, log: Bool)

  // MARK: Recurrence
  /// (dResult, x, weight_ih, weight_hh, bias_ih, bias_hh, h0, [c0], result) → every operand's gradient, flattened and
  /// concatenated in operand order: backpropagation through time, gates recomputed from the saved states.
  case recurrentGrad(RecurrentAttributes)

  // MARK: Attention
  /// (dResult, q, k, v, [key padding mask]) → dq, dk and dv flattened and concatenated, the attention weights
  /// recomputed from q and k rather than kept.
  case attentionGrad(AttentionAttributes)

  // MARK: Lookup
  /// (dy, indices) → the gradient of an embedding table [rows, D]: each dy row added into the row it was read from.
  case embeddingGrad(rows: Int)

  // MARK: Shapes
  /// (dy, like) → dy summed over the axes NumPy broadcasting stretched `like` along: a broadcast operand's gradient.
  case sumToShape
  /// (dy, like) → zeros of like's shape with dy placed along `axis` from `start`: a slice's gradient.
  case padAxis(axis: Int, start: Int)

  // MARK: Batch norm in training mode (statistics over every axis but 1, the channels)
  /// (x) → the batch mean per channel.
  case batchMean
  /// (x, mean) → the biased batch variance per channel: what normalizes (running_var is updated with the unbiased one).
  case batchVariance
  /// (dy, x, mean, var, γ) → dx, through the normalization and the batch statistics:
  /// γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂)).
  case batchNormInputGrad(epsilon: Float)
  /// (dy, x, mean, var) → dγ = Σ dy · x̂ per channel.
  case batchNormWeightGrad(epsilon: Float)

  // MARK: Layer norm (over the last axis)
  /// (dy, x, γ) → dx = (γ·dy − mean(γ·dy) − x̂ · mean(γ·dy · x̂)) / σ per row.
  case layerNormInputGrad(epsilon: Float)
  /// (dy, x) → dγ = Σ over rows of dy · x̂ (dβ is `bias_grad` on the last axis).
  case layerNormWeightGrad(epsilon: Float)

  // MARK: Dropout
  /// (seed, x) → a mask of x's shape, 0 with probability p and 1/(1 − p) elsewhere, from a counter-based hash of
  /// (seed, step, salt, element): `seed` is f32[3] = (seed, step ÷ 2²⁴, step mod 2²⁴), `salt` tells one graph's
  /// dropout layers apart. The interpreter and generated C draw the same mask (`DropoutHash`).
  case dropoutMask(p: Float, salt: Int)

  public var mnemonic: String {
    switch self {
    case .loss(let l): return l.name
    case .lossGrad(let l): return l.name + "_grad"
    case .activationGrad: return "activation_grad"
    case .matmulTransposeA: return "matmul_ta"
    case .biasGrad: return "bias_grad"
    case .conv2dInputGrad: return "conv2d_input_grad"
    case .conv2dWeightGrad: return "conv2d_weight_grad"
    case .maxPool2dGrad: return "max_pool2d_grad"
    case .avgPool2dGrad: return "avg_pool2d_grad"
    case .softmaxGrad: return "softmax_grad"
    case .batchMean: return "batch_mean"
    case .batchVariance: return "batch_variance"
    case .batchNormInputGrad: return "batch_norm_input_grad"
    case .batchNormWeightGrad: return "batch_norm_weight_grad"
    case .dropoutMask: return "dropout_mask"
    case .layerNormInputGrad: return "layer_norm_input_grad"
    case .sumToShape: return "sum_to_shape"
    case .embeddingGrad: return "embedding_grad"
    case .recurrentGrad: return "recurrent_grad"
    case .attentionGrad: return "attention_grad"
    case .padAxis: return "pad_axis"
    case .layerNormWeightGrad: return "layer_norm_weight_grad"
    }
  }

  public static let mnemonics: Set<String> = Set(Loss.names + Loss.names.map { $0 + "_grad" }).union([
    "activation_grad", "matmul_ta", "bias_grad",
    "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d_grad", "avg_pool2d_grad", "softmax_grad",
    "batch_mean", "batch_variance", "batch_norm_input_grad", "batch_norm_weight_grad", "dropout_mask",
    "layer_norm_input_grad", "layer_norm_weight_grad", "sum_to_shape", "pad_axis", "embedding_grad", "recurrent_grad", "attention_grad",
  ])

  public var attributes: [(String, AttributeValue)] {
    switch self {
    case .loss(let l), .lossGrad(let l): return l.attributes
    case .matmulTransposeA, .batchMean, .batchVariance, .sumToShape: return []
    case .padAxis(let axis, let start): return [("axis", .int(axis)), ("start", .int(start))]
    case .embeddingGrad(let rows): return [("rows", .int(rows))]
    case .recurrentGrad(let r): return Op.recurrent(r).attributes
    case .attentionGrad(let a): return Op.attention(a).attributes
    case .batchNormInputGrad(let eps), .batchNormWeightGrad(let eps), .layerNormInputGrad(let eps), .layerNormWeightGrad(let eps):
      return [("epsilon", .float(eps))]
    case .dropoutMask(let p, let salt): return [("p", .float(p)), ("salt", .int(salt))]
    case .activationGrad(let op): return (op.attributes + [("of", .string(op.mnemonic))]).sorted { $0.0 < $1.0 }
    case .biasGrad(let axis): return [("axis", .int(axis))]
    case .conv2dInputGrad(let a, let size): return (Op.conv2d(a).attributes + [("input_size", .ints(size))]).sorted { $0.0 < $1.0 }
    case .conv2dWeightGrad(let a, let kernel): return (Op.conv2d(a).attributes + [("kernel", .ints(kernel))]).sorted { $0.0 < $1.0 }
    case .maxPool2dGrad(let p): return Op.maxPool2d(p).attributes
    case .avgPool2dGrad(let p): return Op.avgPool2d(p).attributes
    case .softmaxGrad(let axis, let log): return [("axis", .int(axis)), ("log", .bool(log))]
    }
  }

  public init?(mnemonic: String, attributes: [String: AttributeValue]) {
    func float(_ key: String) -> Float? {
      switch attributes[key] {
      case .float(let v)?: return v
      case .int(let v)?: return Float(v)
      default: return nil
      }
    }
    func ints(_ key: String) -> [Int]? { if case .ints(let v)? = attributes[key] { return v }; return nil }
    func conv() -> Conv2dAttributes? {
      guard case .conv2d(let a)? = Op(mnemonic: "conv2d", attributes: attributes) else { return nil }
      return a
    }
    if let loss = Loss(name: mnemonic, labelSmoothing: float("label_smoothing")) { self = .loss(loss); return }
    if mnemonic.hasSuffix("_grad"), let loss = Loss(name: String(mnemonic.dropLast(5)), labelSmoothing: float("label_smoothing")) {
      self = .lossGrad(loss)
      return
    }
    switch mnemonic {
    case "matmul_ta": self = .matmulTransposeA
    case "batch_mean": self = .batchMean
    case "sum_to_shape": self = .sumToShape
    case "recurrent_grad":
      guard case .recurrent(let r)? = Op(mnemonic: "recurrent", attributes: attributes) else { return nil }
      self = .recurrentGrad(r)
    case "attention_grad":
      guard case .attention(let a)? = Op(mnemonic: "attention", attributes: attributes) else { return nil }
      self = .attentionGrad(a)
    case "embedding_grad": guard case .int(let rows)? = attributes["rows"] else { return nil }; self = .embeddingGrad(rows: rows)
    case "pad_axis":
      guard case .int(let axis)? = attributes["axis"], case .int(let start)? = attributes["start"] else { return nil }
      self = .padAxis(axis: axis, start: start)
    case "batch_variance": self = .batchVariance
    case "batch_norm_input_grad": guard let e = float("epsilon") else { return nil }; self = .batchNormInputGrad(epsilon: e)
    case "batch_norm_weight_grad": guard let e = float("epsilon") else { return nil }; self = .batchNormWeightGrad(epsilon: e)
    case "layer_norm_input_grad": guard let e = float("epsilon") else { return nil }; self = .layerNormInputGrad(epsilon: e)
    case "layer_norm_weight_grad": guard let e = float("epsilon") else { return nil }; self = .layerNormWeightGrad(epsilon: e)
    case "dropout_mask":
      guard let p = float("p"), case .int(let salt)? = attributes["salt"] else { return nil }
      self = .dropoutMask(p: p, salt: salt)
    case "activation_grad":
      guard case .string(let of)? = attributes["of"], let op = Op(mnemonic: of, attributes: attributes) else { return nil }
      self = .activationGrad(op)
    case "bias_grad": guard case .int(let a)? = attributes["axis"] else { return nil }; self = .biasGrad(axis: a)
    case "conv2d_input_grad": guard let a = conv(), let s = ints("input_size") else { return nil }; self = .conv2dInputGrad(a, inputSize: s)
    case "conv2d_weight_grad": guard let a = conv(), let k = ints("kernel") else { return nil }; self = .conv2dWeightGrad(a, kernel: k)
    case "max_pool2d_grad":
      guard case .maxPool2d(let p)? = Op(mnemonic: "max_pool2d", attributes: attributes) else { return nil }
      self = .maxPool2dGrad(p)
    case "avg_pool2d_grad":
      guard case .avgPool2d(let p)? = Op(mnemonic: "avg_pool2d", attributes: attributes) else { return nil }
      self = .avgPool2dGrad(p)
    case "softmax_grad":
      guard case .int(let a)? = attributes["axis"], case .bool(let l)? = attributes["log"] else { return nil }
      self = .softmaxGrad(axis: a, log: l)
    default: return nil
    }
  }

  public var arity: Int {
    switch self {
    case .biasGrad, .batchMean: return 1
    case .batchNormWeightGrad: return 4
    case .batchNormInputGrad: return 5
    case .layerNormInputGrad: return 3
    case .recurrentGrad(let r): return r.operandCount + 2
    case .attentionGrad(let a): return a.operandCount + 1
    default: return 2
    }
  }

  func infer(_ operands: [TensorType], fail: (String) -> DiagnosticError) throws(DiagnosticError) -> TensorType {
    let first = operands[0]
    switch self {
    case .loss(let l), .lossGrad(let l):
      if l.targetsAreClassIndices {
        guard first.rank == 2, operands[1].shape == [first.shape[0]] else {
          throw fail("\(l.name) takes scores [N, C] and class indices [N], got \(first) and \(operands[1])")
        }
      } else {
        guard first.shape == operands[1].shape else {
          throw fail("\(l.name) compares a prediction and a target of one shape, got \(first) and \(operands[1])")
        }
      }
      if case .loss = self { return TensorType(first.dtype, [.int(1)]) }
      return first
    case .activationGrad, .maxPool2dGrad, .avgPool2dGrad, .softmaxGrad:
      return operands[1]
    case .matmulTransposeA:
      let (a, b) = (operands[0], operands[1])
      guard a.rank >= 2, a.rank == b.rank, Array(a.shape.dropLast()) == Array(b.shape.dropLast()) else {
        throw fail("matmul_ta needs operands with the same leading dimensions, got \(a) and \(b)")
      }
      return TensorType(a.dtype, [a.shape[a.rank - 1], b.shape[b.rank - 1]])
    case .biasGrad(let axis):
      guard (0..<first.rank).contains(axis) else { throw fail("axis \(axis) out of range") }
      return TensorType(first.dtype, [first.shape[axis]])
    case .batchMean, .batchVariance, .batchNormWeightGrad:
      let isWeightGrad = { if case .batchNormWeightGrad = self { true } else { false } }()
      let x = isWeightGrad ? operands[1] : first
      guard x.rank >= 2 else { throw fail("batch statistics need an input with channels on axis 1, got \(x)") }
      let statistics = operands.dropFirst(isWeightGrad ? 2 : 1)
      guard statistics.allSatisfy({ $0.shape == [x.shape[1]] }) else {
        throw fail("the batch statistics of \(x) are [\(x.shape[1])] each, got \(statistics.map(\.description))")
      }
      return TensorType(x.dtype, [x.shape[1]])
    case .batchNormInputGrad, .layerNormInputGrad:
      return operands[1]
    case .padAxis(let axis, let start):
      let (dy, like) = (operands[0], operands[1])
      guard dy.rank == like.rank, (0..<dy.rank).contains(axis), let length = dy.shape[axis].staticValue,
            let total = like.shape[axis].staticValue, start >= 0, start + length <= total else {
        throw fail("pad_axis: \(dy) does not fit in \(like) along axis \(axis) from \(start)")
      }
      return like
    case .recurrentGrad(let r):
      guard operands.count == r.operandCount + 2, operands[0].shape == operands[r.operandCount + 1].shape else {
        throw fail("recurrent_grad takes the result's gradient, the operands and the result")
      }
      var total = Dim.int(0)
      for operand in operands[1...r.operandCount] { total = total + operand.elementCount }
      return TensorType(first.dtype, [total])
    case .attentionGrad(let a):
      guard operands.count == a.operandCount + 1, operands[0].shape == operands[1].shape else {
        throw fail("attention_grad takes the result's gradient, then the query, key, value (and mask)")
      }
      return TensorType(first.dtype, [operands[1].elementCount + operands[2].elementCount + operands[3].elementCount])
    case .embeddingGrad(let rows):
      let (dy, indices) = (operands[0], operands[1])
      guard dy.rank == indices.rank + 1, Array(dy.shape.dropLast()) == indices.shape else {
        throw fail("embedding_grad takes dy of shape indices + [D], got \(dy) and \(indices)")
      }
      return TensorType(dy.dtype, [.int(rows), dy.shape[dy.rank - 1]])
    case .sumToShape:
      let (dy, like) = (operands[0], operands[1])
      guard like.rank <= dy.rank, zip(like.shape.reversed(), dy.shape.reversed()).allSatisfy({ $0 == $1 || $0 == .int(1) }) else {
        throw fail("sum_to_shape: \(like) does not broadcast to \(dy)")
      }
      return like
    case .layerNormWeightGrad:
      guard let last = operands[1].shape.last, operands[0].shape == operands[1].shape else {
        throw fail("layer_norm_weight_grad takes dy and x of one shape, got \(operands[0]) and \(operands[1])")
      }
      return TensorType(operands[1].dtype, [last])
    case .dropoutMask:
      guard first.shape == [.int(3)] else { throw fail("dropout_mask takes a seed f32[3], got \(first)") }
      return operands[1]
    case .conv2dInputGrad(let a, let size):
      let (dy, w) = (operands[0], operands[1])
      return TensorType(dy.dtype, [dy.shape[0], w.shape[1] * .int(a.groups), .int(size[0]), .int(size[1])])
    case .conv2dWeightGrad(let a, let kernel):
      let (dy, x) = (operands[0], operands[1])
      guard let channels = x.shape[1].staticValue, channels % a.groups == 0 else { throw fail("channels must divide into groups") }
      return TensorType(dy.dtype, [dy.shape[1], .int(channels / a.groups), .int(kernel[0]), .int(kernel[1])])
    }
  }
}

/// A training loss, with PyTorch's definition and its default `reduction='mean'` (KL divergence: `'batchmean'`).
public enum Loss: Hashable, Sendable {
  /// Mean over the batch of −log softmax(logits)[label], labels as class indices stored in f32 `[N]`; with label
  /// smoothing ε the target is (1 − ε)·onehot + ε/C, as `CrossEntropyLoss(label_smoothing=ε)`.
  case crossEntropy(labelSmoothing: Float)
  /// Mean over the batch of −input[label], the input being log-probabilities (`NLLLoss`).
  case nll
  /// Mean of (y − t)² over all elements.
  case mse
  /// Mean of |y − t| over all elements.
  case l1
  /// Mean of −(t·log y + (1 − t)·log(1 − y)), y a probability, each log clamped at −100 as PyTorch does.
  case bce
  /// `bce` of sigmoid(y), computed stably from the logits y: max(y, 0) − y·t + log(1 + e^−|y|).
  case bceWithLogits
  /// Σ t·(log t − y) / N: y log-probabilities, t probabilities (`KLDivLoss(reduction='batchmean')`); t = 0 adds 0.
  case klDivergence

  public static let all: [Loss] = [.crossEntropy(labelSmoothing: 0), .nll, .mse, .l1, .bce, .bceWithLogits, .klDivergence]
  public static let names = all.map(\.name)

  public var name: String {
    switch self {
    case .crossEntropy: return "cross_entropy"
    case .nll: return "nll"
    case .mse: return "mse"
    case .l1: return "l1"
    case .bce: return "bce"
    case .bceWithLogits: return "bce_with_logits"
    case .klDivergence: return "kl_divergence"
    }
  }

  public init?(name: String, labelSmoothing: Float? = nil) {
    guard let loss = Self.all.first(where: { $0.name == name }) else { return nil }
    if case .crossEntropy = loss { self = .crossEntropy(labelSmoothing: labelSmoothing ?? 0) } else { self = loss }
  }

  /// Class indices `[N]` for scores `[N, C]`; every other loss takes a target of the prediction's shape.
  public var targetsAreClassIndices: Bool {
    switch self {
    case .crossEntropy, .nll: return true
    default: return false
    }
  }

  var attributes: [(String, AttributeValue)] {
    if case .crossEntropy(let s) = self { return [("label_smoothing", .float(s))] }
    return []
  }
}

/// How a train-step graph names its extra outputs, for the runtime and the code generator to find them.
public enum TrainingOutputs {
  /// `grad:NAME`: the gradient of the trainable parameter NAME.
  public static let gradientPrefix = "grad:"
  /// `update:NAME`: the new value of the buffer NAME (a batch-norm running statistic), copied over it after a step.
  public static let updatePrefix = "update:"
}
