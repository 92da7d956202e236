/// The canonical text form of a graph, one line per node, byte-stable so that dumps diff cleanly:
///
///     graph lenet5 {
///       %0 = input {name="x"} : f32[N,1,28,28]  # x @ Models/lenet5.yaml:3:6
///       %3 = conv2d(%0, %1) {dilation=[1,1] groups=1 padding=[2,2] stride=[1,1]} : f32[N,6,28,28]  # conv1 @ …
///       output logits = %17
///     }
///
/// `IRParser` reads it back: `IRParser.parse(IRPrinter.print(g)) == g`.
public enum IRPrinter {
  public static func print(_ graph: Graph) -> String {
    var out = "graph \(graph.name) {\n"
    for (index, node) in graph.nodes.enumerated() { out += "  " + line(index, node) + "\n" }
    for output in graph.outputs { out += "  output \(output.name) = %\(output.value)\n" }
    let loadTime = graph.loadTimeValues.sorted()
    if !loadTime.isEmpty { out += "  // computed once at load time:" + loadTime.map { " %\($0)" }.joined() + "\n" }
    let tilings = graph.nodes.indices.compactMap { index in graph.convTiling(index).map { (index, $0) } }
    let shared = tilings.filter { $0.1.images > 1 }.map { " %\($0.0)=\($0.1.images)" }
    if !shared.isEmpty { out += "  // images per convolution GEMM:" + shared.joined() + "\n" }
    let byChannels = tilings.filter { $0.1.splitsChannels }.map { " %\($0.0)" }
    if !byChannels.isEmpty { out += "  // convolutions split by output channels:" + byChannels.joined() + "\n" }
    let loops = graph.nodes.indices.filter { graph.loopParts($0) > 1 }.map { " %\($0)" }
    if !loops.isEmpty { out += "  // loops on two threads:" + loops.joined() + "\n" }
    if let plan = graph.memoryPlan {
      out += "  memory arena=\(plan.arenaFloats) load_time=\(plan.loadTimeFloats) lower_bound=\(plan.lowerBoundBytes) naive=\(plan.naiveBytes) weights=\(plan.weightBytes)\n"
      out += "  offsets" + plan.offsets.sorted { $0.key < $1.key }.map { " %\($0.key)=\($0.value)" }.joined() + "\n"
      out += "  scratch" + plan.scratchOffsets.sorted { $0.key < $1.key }.map { " %\($0.key)=\($0.value)" }.joined() + "\n"
    }
    return out + "}\n"
  }

  public static func line(_ index: Int, _ node: Node) -> String {
    var text = "%\(index) = \(node.op.mnemonic)"
    if !node.operands.isEmpty { text += "(" + node.operands.map { "%\($0)" }.joined(separator: ", ") + ")" }
    let attributes = node.op.attributes
    if !attributes.isEmpty { text += " {" + attributes.map { "\($0.0)=\($0.1)" }.joined(separator: " ") + "}" }
    text += " : \(node.type)  # \(node.name)"
    if !node.location.isUnknown { text += " @ \(node.location)" }
    return text
  }
}
