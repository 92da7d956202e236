import DanluDiagnostics
import DanluIR

/// One vector-Jacobian product rule per forward op: given the node and the gradient `dy` of its result, append the
/// nodes computing each operand's gradient and return them (nil where an operand needs none). `wanted[i]` says
/// whether operand i leads to a trainable parameter; rules skip the work for the others.
enum VJPRules {
  static func gradients(of index: Int, dy: Int, wanted: [Bool], in graph: inout Graph) throws(DiagnosticError) -> [Int?] {
    let node = graph.nodes[index]
    let (name, location) = (node.name + ".grad", node.location)
    let x = node.operands
    func add(_ op: Op, _ operands: [Int]) throws(DiagnosticError) -> Int {
      try graph.add(op, operands, name: name, location: location)
    }
    func unsupported(_ detail: String) -> DiagnosticError {
      DiagnosticError(.noGradient(layer: node.name, op: node.op.mnemonic, detail: detail), at: location)
    }
    func shapeOf(_ value: Int) -> [Dim] { graph.nodes[value].type.shape }
    /// The wanted operands' gradients sliced out of one packed gradient that holds them all, flattened, in order.
    func unpack(_ packed: Int, _ operands: [Int]) throws(DiagnosticError) -> [Int?] {
      var (grads, offset): ([Int?], Int) = ([], 0)
      for (i, operand) in operands.enumerated() {
        guard let shape = graph.nodes[operand].type.staticShape else { throw unsupported("bind every dimension before training") }
        let count = shape.reduce(1, *)
        if wanted[i] {
          let part = try add(.slice(axis: 0, start: offset, length: count), [packed])
          grads.append(try graph.reshape(part, to: shapeOf(operand), name: name, location: location))
        } else {
          grads.append(nil)
        }
        offset += count
      }
      return grads
    }

    switch node.op {
    case .relu, .leakyRelu, .sigmoid, .tanh, .gelu, .silu:
      return [try add(.training(.activationGrad(node.op)), [dy, x[0]])]

    case .add, .mul:
      // The product rule, then each gradient summed back over the axes broadcasting stretched its operand along.
      var grads: [Int?] = []
      for (i, operand) in x.enumerated() {
        guard wanted[i] else { grads.append(nil); continue }
        var grad = dy
        if case .mul = node.op { grad = try add(.mul, [dy, x[1 - i]]) }
        if shapeOf(operand) != node.type.shape { grad = try add(.training(.sumToShape), [grad, operand]) }
        grads.append(grad)
      }
      return grads

    case .matmul(let transposeB):
      let da = wanted[0] ? try add(.matmul(transposeB: !transposeB), [dy, x[1]]) : nil
      let db = wanted[1] ? try add(.training(.matmulTransposeA), transposeB ? [dy, x[0]] : [x[0], dy]) : nil
      return [da, db]

    case .biasAdd(let axis):
      return [dy, wanted[1] ? try add(.training(.biasGrad(axis: axis)), [dy]) : nil]

    case .conv2d(let a):
      guard let size = graph.nodes[x[0]].type.staticShape, let kernel = graph.nodes[x[1]].type.staticShape else {
        throw unsupported("bind every dimension before training")
      }
      let dx = wanted[0] ? try add(.training(.conv2dInputGrad(a, inputSize: [size[2], size[3]])), [dy, x[1]]) : nil
      let dw = wanted[1] ? try add(.training(.conv2dWeightGrad(a, kernel: [kernel[2], kernel[3]])), [dy, x[0]]) : nil
      return [dx, dw]

    case .maxPool2d(let p):
      return [try add(.training(.maxPool2dGrad(p)), [dy, x[0]])]
    case .avgPool2d(let p):
      return [try add(.training(.avgPool2dGrad(p)), [dy, x[0]])]
    case .adaptiveAvgPool2d(let size):
      // Equal windows when the output size divides the input: an average pool with that window.
      guard let s = graph.nodes[x[0]].type.staticShape, s[2] % size[0] == 0, s[3] % size[1] == 0 else {
        throw unsupported("only output sizes that divide the input evenly are supported for training")
      }
      let window = [s[2] / size[0], s[3] / size[1]]
      return [try add(.training(.avgPool2dGrad(PoolAttributes(kernel: window, stride: window))), [dy, x[0]])]

    case .softmax(let axis):
      return [try add(.training(.softmaxGrad(axis: axis, log: false)), [dy, x[0]])]
    case .logSoftmax(let axis):
      return [try add(.training(.softmaxGrad(axis: axis, log: true)), [dy, x[0]])]

    case .slice(let axis, let start, _):
      guard let size = graph.nodes[x[0]].type.shape[axis].staticValue else { throw unsupported("bind every dimension before training") }
      return [try add(.training(.padAxis(axis: axis, start: start < 0 ? size + start : start)), [dy, x[0]])]

    case .recurrent(let r):
      // One backward pass through time gives every operand's gradient, packed; each is sliced out and reshaped.
      return try unpack(try add(.training(.recurrentGrad(r)), [dy] + x + [index]), x)

    case .attention(let a):
      // One pass recomputing the attention weights gives dq, dk and dv, packed; the key padding mask is data.
      return try unpack(try add(.training(.attentionGrad(a)), [dy] + x), Array(x.prefix(3))) + (a.keyPadding ? [nil] : [])

    case .embedding:
      // Indices are data, never differentiated; the table's gradient scatters dy back into the rows read.
      guard let rows = graph.nodes[x[1]].type.shape[0].staticValue else { throw unsupported("bind every dimension before training") }
      return [nil, wanted[1] ? try add(.training(.embeddingGrad(rows: rows)), [dy, x[0]]) : nil]

    case .layerNorm(let eps):
      return [wanted[0] ? try add(.training(.layerNormInputGrad(epsilon: eps)), [dy, x[0], x[1]]) : nil,
              wanted[1] ? try add(.training(.layerNormWeightGrad(epsilon: eps)), [dy, x[0]]) : nil,
              wanted[2] ? try add(.training(.biasGrad(axis: node.type.rank - 1)), [dy]) : nil]

    case .dropout:
      // Training rewrites dropout into a product with its mask first (`TrainingMode`); what remains is the identity.
      return [dy]

    case .reshape:
      return [try graph.reshape(dy, to: shapeOf(x[0]), name: name, location: location)]

    case .batchNorm(let eps):
      // Training mode only (`TrainingMode` gives it the batch's statistics): dx includes the path through them.
      guard case .training(.batchMean) = graph.nodes[x[3]].op, case .training(.batchVariance) = graph.nodes[x[4]].op else {
        throw unsupported("batch norm with fixed statistics (running stats) cannot be trained; training mode uses the batch's")
      }
      let statistics = [x[0], x[3], x[4]]
      return [wanted[0] ? try add(.training(.batchNormInputGrad(epsilon: eps)), [dy] + statistics + [x[1]]) : nil,
              wanted[1] ? try add(.training(.batchNormWeightGrad(epsilon: eps)), [dy] + statistics) : nil,
              wanted[2] ? try add(.training(.biasGrad(axis: 1)), [dy]) : nil, nil, nil]
    case .concat(let axis):
      // Each operand's gradient is its own stretch of dy along the axis.
      var (grads, start): ([Int?], Int) = ([], 0)
      for (i, operand) in x.enumerated() {
        guard let length = graph.nodes[operand].type.shape[axis].staticValue else { throw unsupported("bind every dimension before training") }
        grads.append(wanted[i] ? try add(.slice(axis: axis, start: start, length: length), [dy]) : nil)
        start += length
      }
      return grads
    case .input, .parameter, .buffer, .fill, .sinusoid, .fused, .training, .packPanels:
      // Fused groups and packed panels come from passes after autodiff; the rest are leaves or gradients already.
      throw unsupported("no gradient rule")
    }
  }
}
