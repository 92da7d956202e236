import DanluDiagnostics
import DanluIR

/// `fold-batchnorm`: an inference batch norm right after a convolution (or a `linear`'s matrix product), with or
/// without a bias between them, becomes new weights for that convolution — the standard inference rewrite:
///
///     s  = γ / √(σ² + ε)                 per output channel
///     W' = W · s                          (each output channel's filter scaled)
///     b' = (b − μ) · s + β                (b = 0 when the layer had no bias)
///
/// Both are written with existing ops on the weights, so they are the batch norm itself applied to a view of W (with
/// μ = 0, β = 0) and to the bias viewed as one row; being functions of the weights alone, generated code computes
/// them once at load time (`Graph.loadTimeValues`), and each run does a plain conv + bias:
///
///     %5 = conv2d(%0, %1)                          %9  = fill {value=0} : f32[8]
///     %6 = batch_norm(%5, %2, %3, %4, %7)    →     %10 = reshape(%1) : f32[1,8,27]
///                                                  %11 = batch_norm(%10, %2, %9, %9, %7) …   (W · s)
///                                                  …  conv2d(%0, %12) then bias_add(…, b')
///
/// The convolution's output must have the batch norm as its only user (it is not computed any more), and the
/// weights must not depend on a graph input. Runs before `fuse`, which then puts the bias into the GEMM epilogue.
public let foldBatchNorm = Pass(name: "fold-batchnorm", summary: "fold inference batch norm into the preceding conv/linear weights") { graph in
  var users = graph.users()
  for output in graph.outputs { users[output.value].append(-1) }
  let weightOnly = graph.weightOnlyValues

  var result = Graph(name: graph.name)
  var map = Array(repeating: -1, count: graph.nodes.count)
  for (index, node) in graph.nodes.enumerated() {
    if case .batchNorm(let eps) = node.op, let folded = try? fold(graph, index, eps, users, weightOnly, map, into: &result) {
      map[index] = folded
      continue
    }
    var copy = node
    copy.operands = node.operands.map { map[$0] }
    result.nodes.append(copy)
    map[index] = result.nodes.count - 1
  }
  result.outputs = graph.outputs.map { GraphOutput(name: $0.name, value: map[$0.value]) }
  return deadCodeElimination.run(result)
}

/// Appends the folded layer for the batch norm at `index` and returns its value, or nil when the pattern does not
/// match (shapes are already checked, so `Graph.add` cannot fail on a match).
private func fold(_ graph: Graph, _ index: Int, _ eps: Float, _ users: [[Int]], _ weightOnly: [Bool], _ map: [Int],
                  into result: inout Graph) throws(DiagnosticError) -> Int? {
  let bn = graph.nodes[index]
  var producer = bn.operands[0]
  var bias: Int?
  if case .biasAdd(axis: 1) = graph.nodes[producer].op, users[producer] == [index] {
    let biasAdd = producer
    bias = graph.nodes[biasAdd].operands[1]
    producer = graph.nodes[biasAdd].operands[0]
    guard users[producer] == [biasAdd] else { return nil }
  } else if users[producer] != [index] {
    return nil
  }
  let layer = graph.nodes[producer]
  switch layer.op {
  case .conv2d: break
  case .matmul(transposeB: true) where layer.type.rank == 2: break
  default: return nil
  }
  let weight = layer.operands[1]
  let statistics = Array(bn.operands[1...])
  guard ([weight] + statistics + (bias.map { [$0] } ?? [])).allSatisfy({ weightOnly[$0] }) else { return nil }

  let w = graph.nodes[weight].type.shape
  let channels = w[0]
  let name = layer.name, location = layer.location
  let (gamma, beta, mean, variance) = (map[statistics[0]], map[statistics[1]], map[statistics[2]], map[statistics[3]])
  let zero = result.addLeaf(.fill(0), type: TensorType(.f32, [channels]), name: name + ".fold_zero", location: location)

  // W' = W · s: the batch norm with μ = 0 and β = 0 over W viewed as [1, O, rest].
  let rest = w.dropFirst().reduce(Dim.int(1), *)
  let rows = try result.reshape(map[weight], to: [.int(1), channels, rest], name: name + ".fold_weight", location: location)
  let scaled = try result.add(.batchNorm(epsilon: eps), [rows, gamma, zero, zero, variance], name: name + ".fold_weight",
                              location: location)
  let newWeight = try result.reshape(scaled, to: w, name: name + ".fold_weight", location: location)

  // b' = (b − μ) · s + β: the batch norm of the bias (or of zeros) viewed as one row [1, O].
  let oldBias = bias.map { map[$0] } ?? zero
  let row = try result.reshape(oldBias, to: [.int(1), channels], name: name + ".fold_bias", location: location)
  let shifted = try result.add(.batchNorm(epsilon: eps), [row, gamma, beta, mean, variance], name: name + ".fold_bias",
                               location: location)
  let newBias = try result.reshape(shifted, to: [channels], name: name + ".fold_bias", location: location)

  let product = try result.add(layer.op, [map[layer.operands[0]], newWeight], name: name, location: location)
  return try result.add(.biasAdd(axis: 1), [product, newBias], name: bn.name, location: bn.location)
}
