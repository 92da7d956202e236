import DanluIR

/// Where each value lives in the generated program: a graph input, a parameter, an arena offset (in floats), or
/// the storage of another value (a reshape is a view). Every intermediate gets its own slot for now; liveness-based
/// reuse belongs to the memory-planning pass.
struct StoragePlan {
  enum Location: Equatable {
    case input(Int)
    case parameter(Int)
    case arena(Int)
  }

  var locations: [Location] = []
  /// Floats of im2col scratch, placed after the last value.
  var scratchOffset = 0
  var arenaFloats = 0

  static let alignment = 16  // floats: 64 bytes, a cache line

  init(_ graph: Graph) {
    var next = 0
    var scratch = 0
    let parameterIndex = Dictionary(uniqueKeysWithValues: graph.parameters.enumerated().map { ($1, $0) })
    let inputIndex = Dictionary(uniqueKeysWithValues: graph.inputs.enumerated().map { ($1, $0) })
    for (index, node) in graph.nodes.enumerated() {
      switch node.op {
      case .input: locations.append(.input(inputIndex[index]!))
      case .parameter, .buffer: locations.append(.parameter(parameterIndex[index]!))
      case .reshape: locations.append(locations[node.operands[0]])
      default:
        locations.append(.arena(next))
        next += Self.aligned(node.type.staticShape!.reduce(1, *))
        if case .conv2d(let a) = node.op { scratch = max(scratch, Self.im2colFloats(graph, node, a)) }
        if case .fused(let group) = node.op, case .conv2d(let a) = group.anchor {
          scratch = max(scratch, Self.im2colFloats(graph, node, a))
        }
      }
    }
    scratchOffset = next
    arenaFloats = next + Self.aligned(scratch)
  }

  static func aligned(_ floats: Int) -> Int { (floats + alignment - 1) / alignment * alignment }

  /// Scratch for one image and one group of an im2col convolution; zero when the 1×1 fast path applies.
  static func im2colFloats(_ graph: Graph, _ node: Node, _ a: Conv2dAttributes) -> Int {
    let w = graph.nodes[node.operands[1]].type.staticShape!
    let y = node.type.staticShape!
    if isPointwise(w, a) { return 0 }
    return w[1] * w[2] * w[3] * y[2] * y[3]
  }

  static func isPointwise(_ w: [Int], _ a: Conv2dAttributes) -> Bool {
    w[2] == 1 && w[3] == 1 && a.stride == [1, 1] && a.padding == [0, 0]
  }

  func reference(_ value: Int) -> String {
    switch locations[value] {
    case .input(let i): return "inputs[\(i)]"
    case .parameter(let i): return "params[\(i)]"
    case .arena(let offset): return "(arena + \(offset))"
    }
  }
}
