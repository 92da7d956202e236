/// Parameter, MAC and FLOP counts, as torchvision and fvcore report them: a MAC is one multiply-accumulate of a
/// convolution or matrix product; FLOPs are 2 per MAC plus one per output element of every other computing op.
public struct Cost: Hashable, Sendable {
  public var parameters: Int = 0
  public var macs: Int = 0
  public var flops: Int = 0

  public init() {}

  public static func of(_ graph: Graph, bindings: [String: Int]) -> (total: Cost, perNode: [Cost]) {
    var total = Cost()
    var perNode: [Cost] = []
    for node in graph.nodes {
      var cost = Cost()
      let outputCount = node.type.elementCount.evaluate(bindings) ?? 0
      switch node.op {
      case .input, .reshape, .buffer, .fill:
        break
      case .parameter:
        cost.parameters = node.type.elementCount.evaluate(bindings) ?? 0
      case .conv2d(let a):
        let w = graph.nodes[node.operands[1]].type.shape.compactMap { $0.evaluate(bindings) }
        cost.macs = outputCount * (w.count == 4 ? w[1] * w[2] * w[3] : 0)
        _ = a
      case .matmul(let transposeB):
        let w = graph.nodes[node.operands[1]].type.shape.compactMap { $0.evaluate(bindings) }
        cost.macs = outputCount * (w.count == 2 ? (transposeB ? w[1] : w[0]) : 0)
      case .fused(let group):
        let w = group.anchorArity == 2 ? graph.nodes[node.operands[1]].type.shape.compactMap { $0.evaluate(bindings) } : []
        switch group.anchor {
        case .conv2d: cost.macs = outputCount * (w.count == 4 ? w[1] * w[2] * w[3] : 0)
        case .matmul(let t): cost.macs = outputCount * (w.count == 2 ? (t ? w[1] : w[0]) : 0)
        case .elementwise: break
        }
        cost.flops = outputCount * group.epilogue.count
      case .training(.conv2dInputGrad):
        let w = graph.nodes[node.operands[1]].type.shape.compactMap { $0.evaluate(bindings) }
        let dy = graph.nodes[node.operands[0]].type.elementCount.evaluate(bindings) ?? 0
        cost.macs = dy * (w.count == 4 ? w[1] * w[2] * w[3] : 0)
      case .training(.conv2dWeightGrad), .training(.matmulTransposeA):
        // Every output element sums over the rows both operands share: dy's batch and positions (one output
        // channel's worth of dy), or the product's leading dimensions.
        let a = graph.nodes[node.operands[0]].type.shape.compactMap { $0.evaluate(bindings) }
        let channelAxis = { if case .training(.conv2dWeightGrad) = node.op { 1 } else { a.count - 1 } }()
        cost.macs = a.count > channelAxis ? outputCount * (a.reduce(1, *) / max(1, a[channelAxis])) : 0
      case .recurrent(let r):
        // Every step: the gate rows times the input (projected all at once) and the previous state.
        let x = graph.nodes[node.operands[0]].type.shape.compactMap { $0.evaluate(bindings) }
        cost.macs = x.count == 3 ? x[0] * x[1] * r.gates * r.hidden * (x[2] + r.hidden) : 0
        cost.flops = outputCount * 8
      case .attention(let a), .training(.attentionGrad(let a)):
        // Scores q·kᵀ and the weighted sum of v: two products of Sq × Sk × E per batch row (the gradient, about twice).
        let isGrad = { if case .training = node.op { true } else { false } }()
        let q = graph.nodes[node.operands[isGrad ? 1 : 0]].type.shape.compactMap { $0.evaluate(bindings) }
        let k = graph.nodes[node.operands[isGrad ? 2 : 1]].type.shape.compactMap { $0.evaluate(bindings) }
        if q.count == 3, k.count == 3 {
          cost.macs = (isGrad ? 5 : 2) * a.batchAndLength(q).batch * a.batchAndLength(q).length * a.batchAndLength(k).length * q[2]
        }
        cost.flops = outputCount * 4
      case .maxPool2d(let p), .avgPool2d(let p):
        cost.flops = outputCount * p.kernel[0] * p.kernel[1]
      default:
        cost.flops = outputCount
      }
      cost.flops += 2 * cost.macs
      total.parameters += cost.parameters
      total.macs += cost.macs
      total.flops += cost.flops
      perNode.append(cost)
    }
    return (total, perNode)
  }
}
