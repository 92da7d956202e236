import DanluIR

/// What every kernel body is written from: the node's output declaration, its operands' C references and shapes.
struct KernelContext {
  let node: Node
  /// `float *y = …;` — no `restrict`: elementwise kernels may run in place (the memory plan reuses a dying input).
  let y: String
  /// The output's storage reference alone (`(arena + 64)`).
  let yReference: String
  let out: [Int]
  private let references: [String]
  private let shapes: [[Int]]

  init(_ graph: Graph, _ index: Int, _ plan: StoragePlan) {
    node = graph.nodes[index]
    yReference = plan.reference(index)
    y = "  float *y = \(yReference);\n"
    out = node.type.staticShape!
    references = node.operands.map { plan.reference($0) }
    shapes = node.operands.map { graph.nodes[$0].type.staticShape! }
  }

  var count: Int { out.reduce(1, *) }
  func x(_ i: Int) -> String { references[i] }
  func shape(_ i: Int) -> [Int] { shapes[i] }
}
