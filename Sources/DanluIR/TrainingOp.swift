import DanluDiagnostics

/// The ops training adds: losses (scalar results, shape [1]) and the gradient ops that reverse-mode autodiff emits.
/// Each gradient op names the forward op it reverses; `Autodiff`'s rule table says which one each op needs.
public enum TrainingOp: Hashable, Sendable {
  // MARK: Losses: (prediction, target) → [1]
  /// Mean over the batch of −log softmax(logits)[label], labels as class indices stored in f32 `[N]`; with label
  /// smoothing ε the target is (1 − ε)·onehot + ε/C, as PyTorch's `CrossEntropyLoss(label_smoothing=ε)`.
  case crossEntropy(labelSmoothing: Float)
  /// Mean of (y − t)² over all elements.
  case mse

  // MARK: Gradients of the losses with respect to the prediction (the loss's own gradient seeds the chain: 1)
  case crossEntropyGrad(labelSmoothing: Float)
  case mseGrad

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

  public var mnemonic: String {
    switch self {
    case .crossEntropy: return "cross_entropy"
    case .mse: return "mse"
    case .crossEntropyGrad: return "cross_entropy_grad"
    case .mseGrad: return "mse_grad"
    case .activationGrad: return "activation_grad"
    case .matmulTransposeA: return "matmul_ta"
    case .biasGrad: return "bias_grad"
    case .conv2dInputGrad: return "conv2d_input_grad"
    case .conv2dWeightGrad: return "conv2d_weight_grad"
    case .maxPool2dGrad: return "max_pool2d_grad"
    case .avgPool2dGrad: return "avg_pool2d_grad"
    case .softmaxGrad: return "softmax_grad"
    }
  }

  public static let mnemonics: Set<String> = [
    "cross_entropy", "mse", "cross_entropy_grad", "mse_grad", "activation_grad", "matmul_ta", "bias_grad",
    "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d_grad", "avg_pool2d_grad", "softmax_grad",
  ]

  public var attributes: [(String, AttributeValue)] {
    switch self {
    case .crossEntropy(let s), .crossEntropyGrad(let s): return [("label_smoothing", .float(s))]
    case .mse, .mseGrad, .matmulTransposeA: return []
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
    switch mnemonic {
    case "cross_entropy": guard let s = float("label_smoothing") else { return nil }; self = .crossEntropy(labelSmoothing: s)
    case "cross_entropy_grad": guard let s = float("label_smoothing") else { return nil }; self = .crossEntropyGrad(labelSmoothing: s)
    case "mse": self = .mse
    case "mse_grad": self = .mseGrad
    case "matmul_ta": self = .matmulTransposeA
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
    case .biasGrad: return 1
    default: return 2
    }
  }

  func infer(_ operands: [TensorType], fail: (String) -> DiagnosticError) throws(DiagnosticError) -> TensorType {
    let first = operands[0]
    switch self {
    case .crossEntropy:
      guard first.rank == 2, operands[1].shape == [first.shape[0]] else {
        throw fail("cross_entropy takes logits [N, C] and class indices [N], got \(first) and \(operands[1])")
      }
      return TensorType(first.dtype, [.int(1)])
    case .mse:
      guard first.shape == operands[1].shape else { throw fail("mse compares tensors of one shape, got \(first) and \(operands[1])") }
      return TensorType(first.dtype, [.int(1)])
    case .crossEntropyGrad, .mseGrad:
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
