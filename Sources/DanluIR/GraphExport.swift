/// Graphviz and JSON renderings of a graph, for viewers and scripts.
public enum GraphExport {
  public static func dot(_ graph: Graph) -> String {
    var out = "digraph \"\(graph.name)\" {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n"
    for (index, node) in graph.nodes.enumerated() {
      let shape: String
      switch node.op {
      case .input: shape = ", shape=ellipse, style=filled, fillcolor=lightblue"
      case .parameter: shape = ", shape=note, style=filled, fillcolor=lightyellow"
      default: shape = ""
      }
      out += "  n\(index) [label=\"\(escape(node.name))\\n\(node.op.mnemonic) \(node.type)\"\(shape)];\n"
      for operand in node.operands { out += "  n\(operand) -> n\(index);\n" }
    }
    for output in graph.outputs {
      out += "  out_\(output.name) [label=\"\(escape(output.name))\", shape=ellipse, style=filled, fillcolor=lightgreen];\n"
      out += "  n\(output.value) -> out_\(output.name);\n"
    }
    return out + "}\n"
  }

  /// A stable JSON document: nodes in order with op, attributes, operands, type, layer name and location.
  public static func json(_ graph: Graph) -> String {
    var nodes: [String] = []
    for (index, node) in graph.nodes.enumerated() {
      let attributes = node.op.attributes.map { "\"\($0.0)\": \(jsonValue($0.1))" }.joined(separator: ", ")
      let location = node.location.isUnknown ? "null"
        : "{\"file\": \"\(escape(node.location.file))\", \"line\": \(node.location.line), \"column\": \(node.location.column)}"
      nodes.append("    {\"id\": \(index), \"op\": \"\(node.op.mnemonic)\", \"attributes\": {\(attributes)}, "
        + "\"operands\": \(node.operands), \"type\": \"\(node.type)\", \"name\": \"\(escape(node.name))\", "
        + "\"location\": \(location)}")
    }
    let outputs = graph.outputs.map { "{\"name\": \"\(escape($0.name))\", \"value\": \($0.value)}" }
    return "{\n  \"graph\": \"\(escape(graph.name))\",\n  \"nodes\": [\n" + nodes.joined(separator: ",\n")
      + "\n  ],\n  \"outputs\": [" + outputs.joined(separator: ", ") + "]\n}\n"
  }

  private static func jsonValue(_ value: AttributeValue) -> String {
    switch value {
    case .string(let s): return "\"\(escape(s))\""
    case .float(let f): return f.isFinite ? "\(f)" : "null"
    default: return value.description
    }
  }

  private static func escape(_ s: String) -> String {
    var out = ""
    for c in s {
      switch c {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      default: out.append(c)
      }
    }
    return out
  }
}
