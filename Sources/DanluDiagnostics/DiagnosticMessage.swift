/// A message from the catalog: a stable id (tests and docs refer to it) and its text.
public struct DiagnosticMessage: Hashable, Sendable {
  public var id: String
  public var text: String

  public init(id: String, _ text: String) {
    self.id = id
    self.text = text
  }
}

/// The catalog of every user-facing message, alphabetized by id. Messages name the layer and the shapes involved.
extension DiagnosticMessage {
  public static func suggest(_ suggestion: String?) -> String { suggestion.map { "; did you mean '\($0)'?" } ?? "" }

  public static func badArgument(layer: String, op: String, argument: String, expected: String, found: String) -> Self {
    .init(id: "bad-argument", "layer '\(layer)': argument '\(argument)' of \(op) must be \(expected), got \(found)")
  }
  public static func badBlockSignature(_ text: String) -> Self {
    .init(id: "bad-block-signature", "'\(text)' is not a block signature; write 'Name(param, other=default)'")
  }
  public static func badDimDefault(name: String, value: String) -> Self {
    .init(id: "bad-dim-default", "dimension '\(name)' must be a positive integer, got '\(value)'")
  }
  public static func badBatch(_ batch: Int) -> Self {
    .init(id: "bad-batch", "--batch must be at least 1, got \(batch)")
  }
  public static func badDimBinding(_ text: String) -> Self {
    .init(id: "bad-dim-binding", "'\(text)' is not a dimension binding; write NAME=SIZE, e.g. T=64")
  }
  public static func badNumber(_ text: String) -> Self { .init(id: "bad-number", "'\(text)' is not a number") }
  public static func badTensorFile(path: String, problem: String) -> Self {
    .init(id: "bad-tensor-file", "\(path): \(problem)")
  }
  public static func badType(_ text: String) -> Self {
    .init(id: "bad-type", "'\(text)' is not a tensor type; write a dtype and a shape, e.g. f32[N, 3, 224, 224]")
  }
  public static func blockArity(block: String, detail: String) -> Self {
    .init(id: "block-arity", "block '\(block)' \(detail)")
  }
  public static func blockRecursion(_ block: String) -> Self {
    .init(id: "block-recursion", "block '\(block)' uses itself; blocks cannot be recursive (a cycle)")
  }
  public static func compilerFailed(_ output: String) -> Self {
    .init(id: "compiler-failed", "the C compiler failed:\n\(output)")
  }
  public static func duplicateName(_ name: String) -> Self {
    .init(id: "duplicate-name", "the name '\(name)' is already used in this scope")
  }
  public static func emptyLayers(_ context: String) -> Self {
    .init(id: "empty-layers", "\(context) has no layers")
  }
  public static func expectedMapping(context: String, found: String) -> Self {
    .init(id: "expected-mapping", "\(context) must be a mapping (key: value), found \(found)")
  }
  public static func expectedScalar(context: String) -> Self {
    .init(id: "expected-scalar", "\(context) must be a single value, not a list or mapping")
  }
  public static func expectedSequence(context: String, found: String) -> Self {
    .init(id: "expected-sequence", "\(context) must be a list ('- item' lines), found \(found)")
  }
  public static func expectedToken(expected: String, found: String) -> Self {
    .init(id: "expected-token", "expected \(expected), found \(found)")
  }
  public static func extraArgument(layer: String, op: String, detail: String) -> Self {
    .init(id: "extra-argument", "layer '\(layer)': \(op) \(detail)")
  }
  public static func inputShape(name: String, expected: String, found: String) -> Self {
    .init(id: "input-shape", "input '\(name)' must have shape \(expected), but the file holds \(found)")
  }
  public static var layerItemShape: Self {
    .init(id: "layer-item-shape", "a layer is 'op(args)', 'name: op(args)' or 'name:' followed by a nested list")
  }
  public static func missingArgument(layer: String, op: String, argument: String) -> Self {
    .init(id: "missing-argument", "layer '\(layer)': \(op) needs the argument '\(argument)'")
  }
  public static func missingKey(_ key: String, section: String) -> Self {
    .init(id: "missing-key", "\(section) needs a '\(key)' entry")
  }
  public static func notALayer(_ text: String) -> Self {
    .init(id: "not-a-layer", "'\(text)' is a value, not a layer or tensor")
  }
  public static func notATensor(_ text: String) -> Self {
    .init(id: "not-a-tensor", "'\(text)' does not name a tensor here")
  }
  public static func passOrder(_ pass: String, after: String, order: [String]) -> Self {
    .init(id: "pass-order", "--passes: '\(pass)' cannot run after '\(after)'; these run in the order "
      + "\(order.joined(separator: ", ")), and every other pass before \(order.last ?? "")")
  }
  public static func runtimeFailed(_ message: String) -> Self { .init(id: "runtime-failed", message) }
  public static func shapeMismatch(layer: String, op: String, shapes: [String], detail: String) -> Self {
    .init(id: "shape-mismatch", "layer '\(layer)' (\(op)) on \(shapes.joined(separator: " and ")): \(detail)")
  }
  public static func targetUnsupported(layer: String, op: String, target: String) -> Self {
    .init(id: "target-unsupported", "layer '\(layer)': the \(target) target has no kernel for \(op) yet; compile it with --target cpu")
  }
  public static func unboundDim(_ names: [String]) -> Self {
    .init(id: "unbound-dim", "symbolic dimension\(names.count > 1 ? "s" : "") \(names.joined(separator: ", ")) "
      + "must be bound to compile; pass --dim NAME=SIZE (or --batch N)")
  }
  public static func undefinedName(_ name: String, suggestion: String?) -> Self {
    .init(id: "undefined-name", "'\(name)' is not defined here\(suggest(suggestion))")
  }
  public static func unexpectedCharacter(_ c: String) -> Self {
    .init(id: "unexpected-character", "unexpected character '\(c)' in a layer expression")
  }
  public static func unknownArgument(layer: String, op: String, argument: String, suggestion: String?) -> Self {
    .init(id: "unknown-argument", "layer '\(layer)': \(op) has no argument '\(argument)'\(suggest(suggestion))")
  }
  public static func unknownDType(_ name: String, suggestion: String?) -> Self {
    .init(id: "unknown-dtype", "unknown element type '\(name)'\(suggest(suggestion))")
  }
  public static func unknownKey(_ key: String, section: String, suggestion: String?) -> Self {
    .init(id: "unknown-key", "unknown key '\(key)' in \(section)\(suggest(suggestion))")
  }
  public static func unknownOp(_ name: String, suggestion: String?) -> Self {
    .init(id: "unknown-op", "unknown layer or block '\(name)'\(suggest(suggestion))")
  }
  public static var unterminatedString: Self { .init(id: "unterminated-string", "unterminated string") }
  public static func weightsMismatch(_ detail: String) -> Self { .init(id: "weights-mismatch", detail) }
  public static func yamlDuplicateKey(_ key: String) -> Self {
    .init(id: "yaml-duplicate-key", "the key '\(key)' appears twice in this mapping")
  }
  public static var yamlEmptyDocument: Self { .init(id: "yaml-empty", "the file holds no YAML document") }
  public static var yamlSeveralDocuments: Self {
    .init(id: "yaml-several-documents", "a model file holds one YAML document; found a second '---'")
  }
  public static func yamlSyntax(_ problem: String) -> Self { .init(id: "yaml-syntax", "malformed YAML: \(problem)") }
}

extension DiagnosticMessage {
  public static func irSyntax(_ problem: String) -> Self { .init(id: "ir-syntax", "malformed IR: \(problem)") }
}

extension DiagnosticMessage {
  public static func unknownDim(_ name: String, known: [String]) -> Self {
    .init(id: "unknown-dim", "the model has no symbolic dimension '\(name)'"
      + (known.isEmpty ? "; its shapes are all fixed" : "; its symbols are \(known.joined(separator: ", "))"))
  }
}

extension DiagnosticMessage {
  public static func badOperand(op: String, operand: String) -> Self {
    .init(id: "bad-operand", "'\(op)' cannot be applied to \(operand)")
  }
}

extension DiagnosticMessage {
  public static func fileNotReadable(_ path: String) -> Self { .init(id: "file-not-readable", "cannot read \(path)") }
}

extension DiagnosticMessage {
  public static func unknownPass(_ name: String, known: [String], suggestion: String?) -> Self {
    .init(id: "unknown-pass", "unknown pass '\(name)'\(suggest(suggestion)) (the passes are frontend, \(known.joined(separator: ", ")))")
  }
}

extension DiagnosticMessage {
  public static func passNotInPipeline(_ name: String, pipeline: [String]) -> Self {
    .init(id: "pass-not-in-pipeline", "pass '\(name)' is not in this pipeline (\(pipeline.joined(separator: ", ")))")
  }
}

extension DiagnosticMessage {
  public static func forwardReference(_ name: String, definedAt location: SourceLocation) -> Self {
    .init(id: "forward-reference", "'\(name)' is defined later (line \(location.line)); a layer can only use earlier "
      + "layers, so this would make a cycle")
  }
}

extension DiagnosticMessage {
  public static func badName(_ name: String, context: String) -> Self {
    .init(id: "bad-name", "'\(name)' cannot be \(context): use letters, digits and underscores, not starting with a digit")
  }
}

extension DiagnosticMessage {
  public static func noGradient(layer: String, op: String, detail: String) -> Self {
    .init(id: "no-gradient", "layer '\(layer)': cannot train through \(op): \(detail)")
  }
  public static func badTraining(_ detail: String) -> Self { .init(id: "bad-training", detail) }
}
