/// Whether a generated loop — an elementwise chain, a GEMM's epilogue, a standalone activation, layer norm's or
/// softmax's rows — runs on two threads: only where its work pays for waking the second one. Measured here (OpenMP,
/// passive wait, as models with threaded kernels run): waking the second thread costs ~50 µs; add + relu over 1M
/// floats took 107 µs on one thread and 112 on two, over 4M 984 and 652; GELU (libm's erff, ~9 ns an element) over
/// 64K floats 620 µs and 357.
public enum LoopParts {
  /// Units of work (one per element and cheap operation) from which a loop runs in two parts.
  public static let workFrom = 2 << 20
  /// The units an exp, erf or tanh of one element counts for.
  public static let transcendental = 32

  /// Two parts from `workFrom` units (`passes` cheap passes and `transcendentals` libm calls per element), else one.
  public static func parts(elements: Int, passes: Int = 1, transcendentals: Int = 0) -> Int {
    elements * (passes + transcendentals * transcendental) >= workFrom ? 2 : 1
  }

  /// libm calls per element of an activation (0 for relu and leaky relu).
  public static func transcendentals(_ op: Op) -> Int {
    switch op {
    case .sigmoid, .tanh, .gelu, .silu: return 1
    default: return 0
    }
  }
}

extension Graph {
  /// The parts node `index`'s loop runs in (`LoopParts`); 1 for a loop on one thread and for every other kernel
  /// (convolutions, pooling, attention and the recurrent step split their work their own way).
  public func loopParts(_ index: Int) -> Int {
    let node = nodes[index]
    guard let out = node.type.staticShape, !out.contains(0) else { return 1 }
    let elements = out.reduce(1, *)
    switch node.op {
    case .fused(let group):
      switch group.anchor {
      case .conv2d: return 1
      case .matmul where packedMatmul(index) != nil: return 1  // the epilogue runs inside the packed GEMM's blocks
      case .matmul, .elementwise:
        let calls = group.epilogue.reduce(0) { sum, step in
          if case .unary(let op) = step { return sum + LoopParts.transcendentals(op) }
          return sum
        }
        return LoopParts.parts(elements: elements, passes: max(1, group.epilogue.count), transcendentals: calls)
      }
    case .relu, .leakyRelu, .sigmoid, .tanh, .gelu, .silu:
      return LoopParts.parts(elements: elements, transcendentals: LoopParts.transcendentals(node.op))
    case .layerNorm:
      // Three passes over each row: its mean, its variance, the output.
      return out.count >= 2 && elements / out.last! >= 2 ? LoopParts.parts(elements: elements, passes: 3) : 1
    case .softmax(let axis), .logSoftmax(let axis):
      // The peak, then expf in the sum and again (or logf once) in the output.
      return elements / out[axis] >= 2 ? LoopParts.parts(elements: elements, passes: 3, transcendentals: 2) : 1
    default:
      return 1
    }
  }
}
