/// An attribute value in the text IR: `2`, `1e-05`, `true`, `[1,1]`, `"x"`.
public enum AttributeValue: Hashable, Sendable, CustomStringConvertible {
  case int(Int)
  case float(Float)
  case bool(Bool)
  case ints([Int])
  case string(String)

  public var description: String {
    switch self {
    case .int(let v): return String(v)
    case .float(let v): return "\(v)"
    case .bool(let v): return v ? "true" : "false"
    case .ints(let v): return "[\(v.map(String.init).joined(separator: ","))]"
    case .string(let v): return "\"\(v)\""
    }
  }
}

extension Op {
  /// The op's name in the text IR and in messages.
  public var mnemonic: String {
    switch self {
    case .input: return "input"
    case .parameter: return "param"
    case .buffer: return "buffer"
    case .fill: return "fill"
    case .sinusoid: return "sinusoid"
    case .relu: return "relu"
    case .leakyRelu: return "leaky_relu"
    case .sigmoid: return "sigmoid"
    case .tanh: return "tanh"
    case .gelu: return "gelu"
    case .silu: return "silu"
    case .add: return "add"
    case .mul: return "mul"
    case .matmul: return "matmul"
    case .packPanels: return "pack_panels"
    case .biasAdd: return "bias_add"
    case .conv2d: return "conv2d"
    case .batchNorm: return "batch_norm"
    case .layerNorm: return "layer_norm"
    case .maxPool2d: return "max_pool2d"
    case .avgPool2d: return "avg_pool2d"
    case .adaptiveAvgPool2d: return "adaptive_avg_pool2d"
    case .softmax: return "softmax"
    case .logSoftmax: return "log_softmax"
    case .reshape: return "reshape"
    case .concat: return "concat"
    case .dropout: return "dropout"
    case .embedding: return "embedding"
    case .recurrent: return "recurrent"
    case .attention: return "attention"
    case .slice: return "slice"
    case .fused: return "fused"
    case .training(let t): return t.mnemonic
    }
  }

  /// Attributes in a fixed, alphabetical order so that dumps are byte-stable.
  public var attributes: [(String, AttributeValue)] {
    switch self {
    case .input(let name), .parameter(let name), .buffer(let name): return [("name", .string(name))]
    case .fill(let value): return [("value", .float(value))]
    case .leakyRelu(let slope): return [("slope", .float(slope))]
    case .matmul(let t): return [("transpose_b", .bool(t))]
    case .packPanels: return []
    case .biasAdd(let axis), .softmax(let axis), .logSoftmax(let axis), .concat(let axis): return [("axis", .int(axis))]
    case .conv2d(let a):
      // The algorithm is printed only when a pass chose something other than the default.
      return (a.algorithm == .gemm ? [] : [("algorithm", AttributeValue.string(a.algorithm.rawValue))])
        + [("dilation", .ints(a.dilation)), ("groups", .int(a.groups)), ("padding", .ints(a.padding)),
           ("stride", .ints(a.stride))]
    case .batchNorm(let eps), .layerNorm(let eps): return [("epsilon", .float(eps))]
    case .maxPool2d(let p):
      return [("ceil_mode", .bool(p.ceilMode)), ("dilation", .ints(p.dilation)), ("kernel", .ints(p.kernel)),
              ("padding", .ints(p.padding)), ("stride", .ints(p.stride))]
    case .avgPool2d(let p):
      return [("ceil_mode", .bool(p.ceilMode)), ("count_include_pad", .bool(p.countIncludePad)),
              ("kernel", .ints(p.kernel)), ("padding", .ints(p.padding)), ("stride", .ints(p.stride))]
    case .adaptiveAvgPool2d(let size): return [("output_size", .ints(size))]
    case .dropout(let p): return [("p", .float(p))]
    case .recurrent(let r):
      return [("batch_first", .bool(r.batchFirst)), ("cell", .string(r.cell.rawValue)), ("hidden", .int(r.hidden)), ("reverse", .bool(r.reverse))]
    case .attention(let a):
      return [("batch_first", .bool(a.batchFirst)), ("causal", .bool(a.causal)), ("heads", .int(a.heads)),
              ("key_padding", .bool(a.keyPadding))]
    case .slice(let axis, let start, let length): return [("axis", .int(axis)), ("length", .int(length)), ("start", .int(start))]
    case .relu, .sigmoid, .tanh, .gelu, .silu, .add, .mul, .reshape, .embedding, .sinusoid: return []
    case .training(let t): return t.attributes
    case .fused(let group):
      var anchor: [(String, AttributeValue)]
      switch group.anchor {
      case .conv2d(let a): anchor = Op.conv2d(a).attributes + [("anchor", .string("conv2d"))]
      case .matmul(let t): anchor = [("anchor", .string("matmul")), ("transpose_b", .bool(t))]
      case .elementwise: anchor = [("anchor", .string("elementwise"))]
      }
      return (anchor + [("epilogue", .string(group.epilogueText))]).sorted { $0.0 < $1.0 }
    }
  }

  /// Rebuilds an op from its mnemonic and attributes (the text IR parser); nil when they do not fit.
  public init?(mnemonic: String, attributes: [String: AttributeValue]) {
    func int(_ key: String) -> Int? { if case .int(let v)? = attributes[key] { return v }; return nil }
    func float(_ key: String) -> Float? {
      switch attributes[key] {
      case .float(let v)?: return v
      case .int(let v)?: return Float(v)
      default: return nil
      }
    }
    func bool(_ key: String) -> Bool? { if case .bool(let v)? = attributes[key] { return v }; return nil }
    func ints(_ key: String) -> [Int]? { if case .ints(let v)? = attributes[key] { return v }; return nil }
    func string(_ key: String) -> String? { if case .string(let v)? = attributes[key] { return v }; return nil }

    switch mnemonic {
    case "input": guard let n = string("name") else { return nil }; self = .input(n)
    case "param": guard let n = string("name") else { return nil }; self = .parameter(n)
    case "buffer": guard let n = string("name") else { return nil }; self = .buffer(n)
    case "fill": guard let v = float("value") else { return nil }; self = .fill(v)
    case "sinusoid": self = .sinusoid
    case "relu": self = .relu
    case "leaky_relu": guard let s = float("slope") else { return nil }; self = .leakyRelu(slope: s)
    case "sigmoid": self = .sigmoid
    case "tanh": self = .tanh
    case "gelu": self = .gelu
    case "silu": self = .silu
    case "add": self = .add
    case "mul": self = .mul
    case "matmul": guard let t = bool("transpose_b") else { return nil }; self = .matmul(transposeB: t)
    case "pack_panels": self = .packPanels
    case "bias_add": guard let a = int("axis") else { return nil }; self = .biasAdd(axis: a)
    case "conv2d":
      guard let s = ints("stride"), let p = ints("padding"), let d = ints("dilation"), let g = int("groups") else {
        return nil
      }
      var conv = Conv2dAttributes(stride: s, padding: p, dilation: d, groups: g)
      if let name = string("algorithm") {
        guard let algorithm = Conv2dAttributes.Algorithm(rawValue: name) else { return nil }
        conv.algorithm = algorithm
      }
      self = .conv2d(conv)
    case "batch_norm": guard let e = float("epsilon") else { return nil }; self = .batchNorm(epsilon: e)
    case "layer_norm": guard let e = float("epsilon") else { return nil }; self = .layerNorm(epsilon: e)
    case "max_pool2d", "avg_pool2d":
      guard let k = ints("kernel"), let s = ints("stride"), let p = ints("padding"), let c = bool("ceil_mode") else {
        return nil
      }
      if mnemonic == "max_pool2d" {
        guard let d = ints("dilation") else { return nil }
        self = .maxPool2d(PoolAttributes(kernel: k, stride: s, padding: p, dilation: d, ceilMode: c))
      } else {
        guard let i = bool("count_include_pad") else { return nil }
        self = .avgPool2d(PoolAttributes(kernel: k, stride: s, padding: p, ceilMode: c, countIncludePad: i))
      }
    case "adaptive_avg_pool2d": guard let s = ints("output_size") else { return nil }; self = .adaptiveAvgPool2d(outputSize: s)
    case "softmax": guard let a = int("axis") else { return nil }; self = .softmax(axis: a)
    case "log_softmax": guard let a = int("axis") else { return nil }; self = .logSoftmax(axis: a)
    case "reshape": self = .reshape
    case "concat": guard let a = int("axis") else { return nil }; self = .concat(axis: a)
    case "dropout": guard let p = float("p") else { return nil }; self = .dropout(p: p)
    case "embedding": self = .embedding
    case "recurrent":
      guard case .string(let c)? = attributes["cell"], let cell = RecurrentAttributes.Cell(rawValue: c), let hidden = int("hidden"),
            case .bool(let reverse)? = attributes["reverse"], case .bool(let batchFirst)? = attributes["batch_first"] else { return nil }
      self = .recurrent(RecurrentAttributes(cell: cell, hidden: hidden, reverse: reverse, batchFirst: batchFirst))
    case "attention":
      guard let heads = int("heads"), let causal = bool("causal"), let keyPadding = bool("key_padding"),
            let batchFirst = bool("batch_first") else { return nil }
      self = .attention(AttentionAttributes(heads: heads, causal: causal, keyPadding: keyPadding, batchFirst: batchFirst))
    case "slice":
      guard let axis = int("axis"), let start = int("start"), let length = int("length") else { return nil }
      self = .slice(axis: axis, start: start, length: length)
    case "fused":
      guard let text = string("epilogue"), let epilogue = FusedGroup.parseEpilogue(text) else { return nil }
      let anchor: FusedGroup.Anchor
      switch string("anchor") {
      case "conv2d":
        guard case .conv2d(let a)? = Op(mnemonic: "conv2d", attributes: attributes) else { return nil }
        anchor = .conv2d(a)
      case "matmul":
        guard let t = bool("transpose_b") else { return nil }
        anchor = .matmul(transposeB: t)
      case "elementwise": anchor = .elementwise
      default: return nil
      }
      self = .fused(FusedGroup(anchor: anchor, epilogue: epilogue))
    default:
      guard let t = TrainingOp(mnemonic: mnemonic, attributes: attributes) else { return nil }
      self = .training(t)
    }
  }
}
