import DanluDiagnostics

/// Turns a YAML document into a `ModelSpec`, checking the document's shape and collecting every error it can.
public enum SpecLoader {
  static let topLevelKeys = ["model", "inputs", "dims", "blocks", "layers", "outputs", "train"]

  public static func load(_ text: String, file: String) throws(DiagnosticError) -> ModelSpec {
    let root = try YAMLReader.read(text, file: file)
    var loader = Loader()
    let spec = loader.model(root, file: file)
    if !loader.diagnostics.isEmpty { throw DiagnosticError(loader.diagnostics) }
    return spec!
  }

  private struct Loader {
    var diagnostics: [Diagnostic] = []

    mutating func fail(_ message: DiagnosticMessage, at location: SourceLocation) {
      diagnostics.append(Diagnostic(message, at: location))
    }

    mutating func model(_ root: YAMLNode, file: String) -> ModelSpec? {
      guard let pairs = root.mapping else {
        fail(.expectedMapping(context: "a model file", found: root.kindDescription), at: root.location)
        return nil
      }
      var spec = ModelSpec(name: "", file: file, inputs: [], dimDefaults: [], blocks: [], layers: [], outputs: [],
                           train: nil, location: root.location)
      var sawLayers = false
      for pair in pairs {
        guard let key = pair.key.scalar else {
          fail(.expectedScalar(context: "a top-level key"), at: pair.key.location)
          continue
        }
        switch key {
        case "model": spec.name = identifier(pair.value, context: "the model name") ?? ""
        case "inputs": spec.inputs = inputs(pair.value)
        case "dims": spec.dimDefaults = dims(pair.value)
        case "blocks": spec.blocks = blocks(pair.value)
        case "layers": spec.layers = layerList(pair.value, context: "layers"); sawLayers = true
        case "outputs": spec.outputs = outputs(pair.value)
        case "train":
          if pair.value.mapping == nil {
            fail(.expectedMapping(context: "'train'", found: pair.value.kindDescription), at: pair.value.location)
          }
          spec.train = pair.value
        default:
          fail(.unknownKey(key, section: "the model file", suggestion: closestMatch(to: key, in: SpecLoader.topLevelKeys)),
               at: pair.key.location)
        }
      }
      if spec.name.isEmpty, diagnostics.isEmpty { fail(.missingKey("model", section: "the model file"), at: root.location) }
      if spec.inputs.isEmpty, diagnostics.isEmpty { fail(.missingKey("inputs", section: "the model file"), at: root.location) }
      if !sawLayers, diagnostics.isEmpty { fail(.missingKey("layers", section: "the model file"), at: root.location) }
      return spec
    }

    /// Names become C identifiers and `state_dict` keys: letters, digits and underscores.
    mutating func identifier(_ node: YAMLNode, context: String) -> String? {
      guard let text = scalar(node, context: context) else { return nil }
      let valid = !text.isEmpty && !text.first!.isNumber && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
      if !valid { fail(.badName(text, context: context), at: node.location) }
      return valid ? text : nil
    }

    mutating func scalar(_ node: YAMLNode, context: String) -> String? {
      guard let text = node.scalar else {
        fail(.expectedScalar(context: context), at: node.location)
        return nil
      }
      return text
    }

    mutating func mapping(_ node: YAMLNode, context: String) -> [YAMLPair] {
      guard let pairs = node.mapping else {
        fail(.expectedMapping(context: context, found: node.kindDescription), at: node.location)
        return []
      }
      return pairs
    }

    /// Parses a scalar in the call syntax; the expression's columns point into the YAML line.
    mutating func expr(_ node: YAMLNode, context: String) -> Expr? {
      guard case .scalar(let text, let quoted) = node.kind else {
        fail(.expectedScalar(context: context), at: node.location)
        return nil
      }
      do {
        return try ExprParser.parse(text, at: quoted ? node.location.advanced(by: 1) : node.location)
      } catch {
        diagnostics += error.diagnostics
        return nil
      }
    }

    mutating func inputs(_ node: YAMLNode) -> [InputSpec] {
      mapping(node, context: "'inputs'").compactMap { pair in
        guard let name = identifier(pair.key, context: "an input name"),
              let type = expr(pair.value, context: "the type of input '\(name)'") else { return nil }
        return InputSpec(name: name, type: type, location: pair.key.location)
      }
    }

    mutating func dims(_ node: YAMLNode) -> [DimDefault] {
      mapping(node, context: "'dims'").compactMap { pair in
        guard let name = scalar(pair.key, context: "a dimension name"),
              let text = scalar(pair.value, context: "the size of dimension '\(name)'") else { return nil }
        guard let value = Int(text), value > 0 else {
          fail(.badDimDefault(name: name, value: text), at: pair.value.location)
          return nil
        }
        return DimDefault(name: name, value: value, location: pair.key.location)
      }
    }

    mutating func blocks(_ node: YAMLNode) -> [BlockSpec] {
      mapping(node, context: "'blocks'").compactMap { pair in
        guard let signature = expr(pair.key, context: "a block signature") else { return nil }
        let name: String
        var parameters: [BlockSpec.Parameter] = []
        switch signature.kind {
        case .name(let n): name = n
        case .call(let callee, let args):
          guard case .name(let n) = callee.kind else {
            fail(.badBlockSignature(signature.description), at: signature.location)
            return nil
          }
          name = n
          for arg in args {
            if let label = arg.label {
              parameters.append(.init(name: label, defaultValue: arg.value, location: arg.location))
            } else if case .name(let p) = arg.value.kind {
              parameters.append(.init(name: p, defaultValue: nil, location: arg.location))
            } else {
              fail(.badBlockSignature(signature.description), at: arg.location)
            }
          }
        default:
          fail(.badBlockSignature(signature.description), at: signature.location)
          return nil
        }
        return BlockSpec(name: name, parameters: parameters, body: layerList(pair.value, context: "block '\(name)'"),
                         location: pair.key.location)
      }
    }

    mutating func layerList(_ node: YAMLNode, context: String) -> [LayerItem] {
      guard let items = node.sequence else {
        fail(.expectedSequence(context: "'\(context)'", found: node.kindDescription), at: node.location)
        return []
      }
      return items.compactMap { layerItem($0) }
    }

    mutating func layerItem(_ node: YAMLNode) -> LayerItem? {
      switch node.kind {
      case .scalar:
        return expr(node, context: "a layer").map { LayerItem(name: nil, body: .expr($0), location: node.location) }
      case .mapping(let pairs):
        guard pairs.count == 1 else {
          fail(.layerItemShape, at: node.location)
          return nil
        }
        guard let name = identifier(pairs[0].key, context: "a layer name") else { return nil }
        let value = pairs[0].value
        if value.sequence != nil {
          return LayerItem(name: name, body: .sequential(layerList(value, context: name)), location: pairs[0].key.location)
        }
        return expr(value, context: "layer '\(name)'").map {
          LayerItem(name: name, body: .expr($0), location: pairs[0].key.location)
        }
      case .sequence:
        fail(.layerItemShape, at: node.location)
        return nil
      }
    }

    mutating func outputs(_ node: YAMLNode) -> [OutputSpec] {
      switch node.kind {
      case .sequence(let items):
        return items.compactMap { item in
          guard let value = expr(item, context: "an output") else { return nil }
          guard case .name(let name) = value.kind else {
            fail(.expectedScalar(context: "an output name"), at: item.location)
            return nil
          }
          return OutputSpec(name: name, value: value, location: item.location)
        }
      case .mapping(let pairs):
        return pairs.compactMap { pair in
          guard let name = identifier(pair.key, context: "an output name"),
                let value = expr(pair.value, context: "output '\(name)'") else { return nil }
          return OutputSpec(name: name, value: value, location: pair.key.location)
        }
      case .scalar:
        fail(.expectedSequence(context: "'outputs'", found: node.kindDescription), at: node.location)
        return []
      }
    }
  }
}
