import Foundation
import DanluDiagnostics

/// Reads the text form written by `IRPrinter` back into a graph, then verifies it.
public enum IRParser {
  public static func parse(_ text: String, file: String = "<ir>") throws(DiagnosticError) -> Graph {
    var graph: Graph?
    for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let at = SourceLocation(file: file, line: offset + 1, column: 1)
      let line = rawLine.trimmingSpaces
      if line.isEmpty || line == "}" || line.hasPrefix("//") { continue }
      if line.hasPrefix("graph ") {
        guard line.hasSuffix("{") else { throw DiagnosticError(.irSyntax("expected '{' after the graph name"), at: at) }
        graph = Graph(name: String(line.dropFirst(6).dropLast()).trimmingSpaces)
        continue
      }
      guard graph != nil else { throw DiagnosticError(.irSyntax("expected 'graph NAME {'"), at: at) }
      if line.hasPrefix("memory ") || line.hasPrefix("offsets") || line.hasPrefix("scratch") {
        guard let plan = parsePlanLine(line, into: graph!.memoryPlan) else {
          throw DiagnosticError(.irSyntax("malformed memory plan line"), at: at)
        }
        graph!.memoryPlan = plan
        continue
      }
      if line.hasPrefix("output ") {
        let parts = line.dropFirst(7).split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces }
        guard parts.count == 2, parts[1].hasPrefix("%"), let value = Int(parts[1].dropFirst()),
              value < graph!.nodes.count else {
          throw DiagnosticError(.irSyntax("expected 'output NAME = %VALUE'"), at: at)
        }
        graph!.outputs.append(GraphOutput(name: parts[0], value: value))
        continue
      }
      graph!.nodes.append(try node(line, index: graph!.nodes.count, at: at))
    }
    guard let graph else { throw DiagnosticError(.irSyntax("no graph found"), at: SourceLocation(file: file, line: 1, column: 1)) }
    let problems = Verifier.problems(graph)
    if let first = problems.first { throw DiagnosticError(.irSyntax(first), at: SourceLocation(file: file, line: 1, column: 1)) }
    return graph
  }

  private static func node(_ line: String, index: Int, at: SourceLocation) throws(DiagnosticError) -> Node {
    func fail(_ what: String) -> DiagnosticError { DiagnosticError(.irSyntax(what), at: at) }
    // Split off the trailing "# name @ file:line:col" first; names and files hold no '#'.
    let halves = line.split(separator: "#", maxSplits: 1).map(String.init)
    guard halves.count == 2 else { throw fail("expected '# layer-name' at the end of the line") }
    let (body, meta) = (halves[0], halves[1].trimmingSpaces)
    var name = meta
    var location = SourceLocation.unknown
    if let atRange = meta.range(of: " @ ") {
      name = String(meta[..<atRange.lowerBound])
      let loc = meta[atRange.upperBound...].split(separator: ":")
      guard loc.count >= 3, let l = Int(loc[loc.count - 2]), let c = Int(loc[loc.count - 1]) else {
        throw fail("malformed location '\(meta[atRange.upperBound...])'")
      }
      location = SourceLocation(file: loc.dropLast(2).joined(separator: ":"), line: l, column: c)
    }

    guard let eq = body.range(of: " = "), body.hasPrefix("%"), Int(body[body.index(after: body.startIndex)..<eq.lowerBound]) == index else {
      throw fail("expected '%\(index) = op…'")
    }
    var rest = Substring(body[eq.upperBound...])
    guard let colon = rest.range(of: " : ", options: .backwards) else { throw fail("expected ' : TYPE'") }
    let type = try parseType(String(rest[colon.upperBound...]).trimmingSpaces, at: at)
    rest = rest[..<colon.lowerBound]

    var attributes: [String: AttributeValue] = [:]
    if let open = rest.firstIndex(of: "{"), let close = rest.lastIndex(of: "}") {
      for item in splitTopLevel(rest[rest.index(after: open)..<close], separator: " ") {
        let kv = item.split(separator: "=", maxSplits: 1)
        guard kv.count == 2, let value = attributeValue(String(kv[1])) else { throw fail("bad attribute '\(item)'") }
        attributes[String(kv[0])] = value
      }
      rest = rest[..<open]
    }
    var operands: [Int] = []
    var mnemonic = rest.trimmingSpaces
    if let open = mnemonic.firstIndex(of: "("), mnemonic.hasSuffix(")") {
      for operand in mnemonic[mnemonic.index(after: open)..<mnemonic.index(before: mnemonic.endIndex)].split(separator: ",") {
        let text = operand.trimmingSpaces
        guard text.hasPrefix("%"), let value = Int(text.dropFirst()), value < index else {
          throw fail("operand '\(text)' must name an earlier value")
        }
        operands.append(value)
      }
      mnemonic = String(mnemonic[..<open])
    }
    guard let op = Op(mnemonic: mnemonic, attributes: attributes) else {
      throw fail("unknown op '\(mnemonic)' or wrong attributes \(attributes.keys.sorted())")
    }
    return Node(op: op, type: type, operands: operands, name: name, location: location)
  }

  /// `memory arena=F load_time=F lower_bound=B naive=B weights=B`, `offsets %3=0 …` or `scratch %7=96 …`.
  private static func parsePlanLine(_ line: String, into existing: MemoryPlan?) -> MemoryPlan? {
    var plan = existing ?? MemoryPlan(offsets: [:], scratchOffsets: [:], arenaFloats: 0, lowerBoundBytes: 0, naiveBytes: 0,
                                      weightBytes: 0)
    var pairs: [(String, Int)] = []
    for word in line.split(separator: " ").dropFirst() {
      let kv = word.split(separator: "=")
      guard kv.count == 2, let value = Int(kv[1]) else { return nil }
      pairs.append((String(kv[0]), value))
    }
    if line.hasPrefix("memory") {
      for (key, value) in pairs {
        switch key {
        case "arena": plan.arenaFloats = value
        case "load_time": plan.loadTimeFloats = value
        case "lower_bound": plan.lowerBoundBytes = value
        case "naive": plan.naiveBytes = value
        case "weights": plan.weightBytes = value
        default: return nil
        }
      }
      return plan
    }
    var offsets: [Int: Int] = [:]
    for (key, value) in pairs {
      guard key.hasPrefix("%"), let node = Int(key.dropFirst()) else { return nil }
      offsets[node] = value
    }
    if line.hasPrefix("offsets") { plan.offsets = offsets } else { plan.scratchOffsets = offsets }
    return plan
  }

  private static func attributeValue(_ text: String) -> AttributeValue? {
    if text == "true" { return .bool(true) }
    if text == "false" { return .bool(false) }
    if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 { return .string(String(text.dropFirst().dropLast())) }
    if text.hasPrefix("[") {
      let items = text.dropFirst().dropLast().split(separator: ",").compactMap { Int($0) }
      return .ints(items)
    }
    if let v = Int(text) { return .int(v) }
    if let v = Float(text) { return .float(v) }
    return nil
  }

  /// Splits on `separator` outside quotes and brackets.
  private static func splitTopLevel(_ text: Substring, separator: Character) -> [String] {
    var parts: [String] = [], current = "", depth = 0, quoted = false
    for c in text {
      if c == "\"" { quoted.toggle() }
      if !quoted, c == "[" { depth += 1 }
      if !quoted, c == "]" { depth -= 1 }
      if c == separator, depth == 0, !quoted {
        if !current.isEmpty { parts.append(current) }
        current = ""
      } else {
        current.append(c)
      }
    }
    if !current.isEmpty { parts.append(current) }
    return parts
  }

  /// Parses `f32[N,3,(H-1)//2+1]`, or with a layout `f32[1,128,28,28]{nchw8c}`.
  public static func parseType(_ text: String, at: SourceLocation) throws(DiagnosticError) -> TensorType {
    if text.hasSuffix("}"), let brace = text.lastIndex(of: "{") {
      guard let layout = Layout(rawValue: String(text[text.index(after: brace)..<text.index(before: text.endIndex)])) else {
        throw DiagnosticError(.badType(text), at: at)
      }
      var type = try parseType(String(text[..<brace]), at: at)
      type.layout = layout
      return type
    }
    guard let open = text.firstIndex(of: "["), text.hasSuffix("]"), let dtype = DType(rawValue: String(text[..<open])) else {
      throw DiagnosticError(.badType(text), at: at)
    }
    let inner = text[text.index(after: open)..<text.index(before: text.endIndex)]
    var shape: [Dim] = []
    for item in splitTopLevel(inner, separator: ",") {
      var parser = DimParser(chars: Array(item))
      guard let dim = parser.parseSum(), parser.atEnd else { throw DiagnosticError(.badType(text), at: at) }
      shape.append(dim)
    }
    return TensorType(dtype, shape)
  }
}

/// Dimension expressions in printed types: `+ - * //`, parentheses, integers and symbols.
private struct DimParser {
  var chars: [Character]
  var position = 0

  var atEnd: Bool { position == chars.count }

  mutating func accept(_ s: String) -> Bool {
    let s = Array(s)
    guard position + s.count <= chars.count, Array(chars[position..<(position + s.count)]) == s else { return false }
    position += s.count
    return true
  }

  mutating func parseSum() -> Dim? {
    guard var lhs = parseProduct() else { return nil }
    while true {
      if accept("+") { guard let r = parseProduct() else { return nil }; lhs = lhs + r }
      else if accept("-") { guard let r = parseProduct() else { return nil }; lhs = lhs - r }
      else { return lhs }
    }
  }

  mutating func parseProduct() -> Dim? {
    guard var lhs = parseAtom() else { return nil }
    while true {
      if accept("//") { guard case .int(let d)? = parseAtom(), d > 0 else { return nil }; lhs = lhs.floorDivided(by: d) }
      else if accept("*") { guard let r = parseAtom() else { return nil }; lhs = lhs * r }
      else { return lhs }
    }
  }

  mutating func parseAtom() -> Dim? {
    if accept("(") {
      let inner = parseSum()
      return accept(")") ? inner : nil
    }
    if accept("-") { return parseAtom().map { $0 * .int(-1) } }
    let start = position
    while position < chars.count, chars[position].isLetter || chars[position].isNumber || chars[position] == "_" {
      position += 1
    }
    let word = String(chars[start..<position])
    if word.isEmpty { return nil }
    if let v = Int(word) { return .int(v) }
    return word.first!.isNumber ? nil : .symbol(word)
  }
}

extension StringProtocol {
  var trimmingSpaces: String {
    var s = Substring(self)
    while s.first == " " { s = s.dropFirst() }
    while s.last == " " { s = s.dropLast() }
    return String(s)
  }
}
