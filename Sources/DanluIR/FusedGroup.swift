/// A kernel group made by the fusion pass: an anchor computation followed by an epilogue applied in the same pass
/// over its output. Operand 0 (and 1 for conv2d/matmul) feed the anchor; epilogue steps name further operands by
/// their position among the node's operands.
///
///     fused(%x, %w, %b, %r) {anchor="conv2d" … epilogue="bias_add(2,axis=1) add(3) relu"}
public struct FusedGroup: Hashable, Sendable {
  public enum Anchor: Hashable, Sendable {
    case conv2d(Conv2dAttributes)
    case matmul(transposeB: Bool)
    /// Operand 0 itself: a chain of elementwise steps.
    case elementwise
  }

  public enum Step: Hashable, Sendable {
    case biasAdd(axis: Int, operand: Int)
    /// Inference batch norm on axis 1; operands weight, bias, running_mean, running_var start at `operand`.
    case batchNorm(epsilon: Float, operand: Int)
    /// Elementwise with an operand of the output's shape (a residual connection) or one NumPy-broadcast to it.
    case add(operand: Int)
    case mul(operand: Int)
    /// relu, leaky_relu, sigmoid, tanh, gelu or silu.
    case unary(Op)
  }

  public var anchor: Anchor
  public var epilogue: [Step]

  public init(anchor: Anchor, epilogue: [Step]) {
    self.anchor = anchor
    self.epilogue = epilogue
  }

  /// How many operands the anchor reads.
  public var anchorArity: Int {
    switch anchor {
    case .conv2d, .matmul: return 2
    case .elementwise: return 1
    }
  }

  /// The primitive op each step applies, for shape checks and the interpreter.
  public func op(of step: Step) -> Op {
    switch step {
    case .biasAdd(let axis, _): return .biasAdd(axis: axis)
    case .batchNorm(let eps, _): return .batchNorm(epsilon: eps)
    case .add: return .add
    case .mul: return .mul
    case .unary(let op): return op
    }
  }

  /// The operand positions a step reads besides the running value.
  public func operands(of step: Step) -> [Int] {
    switch step {
    case .biasAdd(_, let i), .add(let i), .mul(let i): return [i]
    case .batchNorm(_, let i): return Array(i..<(i + 4))
    case .unary: return []
    }
  }

  /// `bias_add(2,axis=1) batch_norm(3,epsilon=1e-05) add(7) relu`: the epilogue as one attribute string.
  public var epilogueText: String {
    epilogue.map { step in
      switch step {
      case .biasAdd(let axis, let i): return "bias_add(\(i),axis=\(axis))"
      case .batchNorm(let eps, let i): return "batch_norm(\(i),epsilon=\(eps))"
      case .add(let i): return "add(\(i))"
      case .mul(let i): return "mul(\(i))"
      case .unary(let op):
        if case .leakyRelu(let slope) = op { return "leaky_relu(slope=\(slope))" }
        return op.mnemonic
      }
    }.joined(separator: " ")
  }

  public static func parseEpilogue(_ text: String) -> [Step]? {
    var steps: [Step] = []
    for word in text.split(separator: " ") {
      let name = word.prefix { $0 != "(" }
      let inside = word.dropFirst(name.count).dropFirst().dropLast()
      var index: Int?
      var named: [String: String] = [:]
      for part in inside.split(separator: ",") {
        let kv = part.split(separator: "=", maxSplits: 1)
        if kv.count == 2 { named[String(kv[0])] = String(kv[1]) } else { index = Int(part) }
      }
      switch name {
      case "bias_add":
        guard let index, let axis = named["axis"].flatMap({ Int($0) }) else { return nil }
        steps.append(.biasAdd(axis: axis, operand: index))
      case "batch_norm":
        guard let index, let eps = named["epsilon"].flatMap({ Float($0) }) else { return nil }
        steps.append(.batchNorm(epsilon: eps, operand: index))
      case "add": guard let index else { return nil }; steps.append(.add(operand: index))
      case "mul": guard let index else { return nil }; steps.append(.mul(operand: index))
      case "leaky_relu":
        guard let slope = named["slope"].flatMap({ Float($0) }) else { return nil }
        steps.append(.unary(.leakyRelu(slope: slope)))
      default:
        guard let op = Op(mnemonic: String(name), attributes: [:]), Op.elementwise.contains(op.mnemonic) else { return nil }
        steps.append(.unary(op))
      }
    }
    return steps
  }
}
