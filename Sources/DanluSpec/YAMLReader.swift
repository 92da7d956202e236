import CYaml
import DanluDiagnostics

/// Reads one YAML document with libyaml's event API, keeping each node's line and column.
/// Anchors and aliases are resolved by copying the anchored node.
public enum YAMLReader {
  public static func read(_ text: String, file: String) throws(DiagnosticError) -> YAMLNode {
    var parser = yaml_parser_t()
    guard yaml_parser_initialize(&parser) == 1 else {
      throw DiagnosticError(.yamlSyntax("the YAML parser could not start"), at: SourceLocation(file: file, line: 1, column: 1))
    }
    defer { yaml_parser_delete(&parser) }
    let bytes = Array(text.utf8)
    return try bytes.withUnsafeBufferPointer { (buffer) throws(DiagnosticError) -> YAMLNode in
      yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
      var builder = Builder(file: file)
      while true {
        var event = yaml_event_t()
        guard yaml_parser_parse(&parser, &event) == 1 else { throw builder.syntaxError(parser) }
        defer { yaml_event_delete(&event) }
        let type = event.type
        try builder.consume(&event)
        if type == YAML_STREAM_END_EVENT { break }
      }
      guard let root = builder.root else {
        throw DiagnosticError(.yamlEmptyDocument, at: SourceLocation(file: file, line: 1, column: 1))
      }
      return root
    }
  }

  private struct Builder {
    enum Open {
      case sequence([YAMLNode], SourceLocation, anchor: String?)
      case mapping([YAMLPair], pendingKey: YAMLNode?, SourceLocation, anchor: String?)
    }

    let file: String
    var stack: [Open] = []
    var anchors: [String: YAMLNode] = [:]
    var root: YAMLNode?
    var documents = 0

    init(file: String) { self.file = file }

    func location(_ mark: yaml_mark_t) -> SourceLocation {
      SourceLocation(file: file, line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }

    func syntaxError(_ parser: yaml_parser_t) -> DiagnosticError {
      let problem = parser.problem.map { String(cString: $0) } ?? "malformed YAML"
      let context = parser.context.map { String(cString: $0) + ": " } ?? ""
      return DiagnosticError(.yamlSyntax(context + problem), at: location(parser.problem_mark))
    }

    mutating func consume(_ event: inout yaml_event_t) throws(DiagnosticError) {
      let at = location(event.start_mark)
      switch event.type {
      case YAML_DOCUMENT_START_EVENT:
        documents += 1
        if documents > 1 { throw DiagnosticError(.yamlSeveralDocuments, at: at) }
      case YAML_SCALAR_EVENT:
        let data = event.data.scalar
        let text = String(decoding: UnsafeBufferPointer(start: data.value, count: Int(data.length)), as: UTF8.self)
        let node = YAMLNode(.scalar(text, quoted: data.style != YAML_PLAIN_SCALAR_STYLE), at: at)
        remember(node, anchor: data.anchor)
        try attach(node)
      case YAML_SEQUENCE_START_EVENT:
        stack.append(.sequence([], at, anchor: data(event.data.sequence_start.anchor)))
      case YAML_MAPPING_START_EVENT:
        stack.append(.mapping([], pendingKey: nil, at, anchor: data(event.data.mapping_start.anchor)))
      case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
        guard let open = stack.popLast() else { return }
        let node: YAMLNode
        let anchor: String?
        switch open {
        case .sequence(let items, let start, let a): node = YAMLNode(.sequence(items), at: start); anchor = a
        case .mapping(let pairs, _, let start, let a): node = YAMLNode(.mapping(pairs), at: start); anchor = a
        }
        if let anchor { anchors[anchor] = node }
        try attach(node)
      case YAML_ALIAS_EVENT:
        let name = String(cString: event.data.alias.anchor)
        guard let node = anchors[name] else { throw DiagnosticError(.yamlSyntax("unknown alias '*\(name)'"), at: at) }
        try attach(YAMLNode(node.kind, at: at))
      default:
        break
      }
    }

    private func data(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
      pointer.map { String(cString: $0) }
    }

    private mutating func remember(_ node: YAMLNode, anchor: UnsafeMutablePointer<yaml_char_t>?) {
      if let anchor { anchors[String(cString: anchor)] = node }
    }

    private mutating func attach(_ node: YAMLNode) throws(DiagnosticError) {
      guard let top = stack.popLast() else {
        root = node
        return
      }
      switch top {
      case .sequence(var items, let start, let anchor):
        items.append(node)
        stack.append(.sequence(items, start, anchor: anchor))
      case .mapping(var pairs, let pendingKey, let start, let anchor):
        if let key = pendingKey {
          if let keyText = key.scalar, pairs.contains(where: { $0.key.scalar == keyText }) {
            throw DiagnosticError(.yamlDuplicateKey(keyText), at: key.location)
          }
          pairs.append(YAMLPair(key: key, value: node))
          stack.append(.mapping(pairs, pendingKey: nil, start, anchor: anchor))
        } else {
          stack.append(.mapping(pairs, pendingKey: node, start, anchor: anchor))
        }
      }
    }
  }
}
