import DanluIR

/// The layouts a convolution kernel reads and writes (`choose-layout`, `Layout.nchw8c`): its input, its output and
/// its epilogue's operands. Only a direct convolution by filters writes blocked or reads a blocked residual; an
/// im2col reads a blocked input too.
struct ConvLayouts {
  var input = false
  var output = false
  /// Positions of the node's operands that are blocked.
  var operands: Set<Int> = []

  static let plain = ConvLayouts()

  init() {}

  init(_ graph: Graph, _ index: Int) {
    let node = graph.nodes[index]
    operands = Set(node.operands.indices.filter { graph.nodes[node.operands[$0]].type.layout == .nchw8c })
    input = operands.contains(0)
    output = node.type.layout == .nchw8c
  }

  /// The index an epilogue step reads operand `position` at: `idx` (the output's own layout), `pidx` (NCHW) or
  /// `bidx` (blocked), which the epilogue declares where a step reads them (`declarations`).
  func index(of position: Int) -> String {
    let blocked = operands.contains(position)
    return blocked == output ? "idx" : blocked ? "bidx" : "pidx"
  }

  /// C declaring `pidx` and `bidx` for channel `c`, position `i` of image `n` where `steps` read them.
  static func declarations(_ steps: String, o: Int, spatial: Int, indent: Int) -> String {
    let pad = String(repeating: " ", count: indent)
    var lines = ""
    if steps.contains("[pidx]") { lines += pad + "const long pidx = (n * \(o) + c) * \(spatial) + i;\n" }
    if steps.contains("[bidx]") {
      lines += pad + "const long bidx = ((n * \(o) + c - c % 8) * \(spatial) + i * 8) + c % 8;\n"
    }
    return lines
  }
}
