import DanluFrontend
import DanluIR

/// The table `danlu check` prints: every computing node with its layer path, op, output shape and parameters,
/// then the totals.
public enum CheckReport {
  public static func render(_ model: Model) -> String {
    let graph = model.graph
    var bindings = model.bindings
    for symbol in graph.freeSymbols where bindings[symbol] == nil { bindings[symbol] = 1 }
    let (total, perNode) = Cost.of(graph, bindings: bindings)

    // Parameters are attributed to the node that uses them.
    var parameterCount = Array(repeating: 0, count: graph.nodes.count)
    for (index, node) in graph.nodes.enumerated() {
      for operand in node.operands where graph.parameterName(operand) != nil {
        parameterCount[index] += perNode[operand].parameters
      }
    }
    var rows: [[String]] = [["node", "op", "output", "params"]]
    for (index, node) in graph.nodes.enumerated() {
      switch node.op {
      case .parameter, .buffer: continue
      default: rows.append([node.name, node.op.mnemonic, node.type.description, grouped(parameterCount[index])])
      }
    }
    let widths = (0..<4).map { column in rows.map { $0[column].count }.max() ?? 0 }
    var out = ""
    for (i, row) in rows.enumerated() {
      out += row.enumerated().map { column, cell in
        column == 3 ? String(repeating: " ", count: widths[3] - cell.count) + cell
          : cell + String(repeating: " ", count: widths[column] - cell.count)
      }.joined(separator: "  ") + "\n"
      if i == 0 { out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
    }
    let bound = bindings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    out += "\nparameters: \(grouped(total.parameters))\n"
    out += "MACs: \(grouped(total.macs)) (\(gigas(total.macs)) G)  FLOPs: \(grouped(total.flops)) (\(gigas(total.flops)) G)"
    out += bound.isEmpty ? "\n" : "  at \(bound)\n"
    return out
  }

  static func gigas(_ n: Int) -> String {
    let value = Double(n) / 1e9
    let rounded = (value * 1000).rounded() / 1000
    return String(rounded)
  }

  /// 11689512 → "11,689,512".
  public static func grouped(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
      if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
      out.append(c)
    }
    return (n < 0 ? "-" : "") + out
  }
}
