import DanluDiagnostics
import DanluIR

/// A friendly layer of the spec language (`conv2d`, `linear`, `batchnorm2d`, …): its parameters with PyTorch's
/// defaults, how many tensors it takes, and how it lowers onto the closed IR op set.
struct LayerDefinition: Sendable {
  enum Kind: Sendable {
    case int, pair, float, bool, string
    /// The remaining positional arguments, as dimensions (`reshape(N, 400)`).
    case dims

    var expected: String {
      switch self {
      case .int: return "an integer"
      case .pair: return "an integer or a pair (h, w)"
      case .float: return "a number"
      case .bool: return "true or false"
      case .string: return "a quoted string"
      case .dims: return "dimensions"
      }
    }
  }

  struct Parameter: Sendable {
    var name: String
    var kind: Kind
    /// Nil: required. `.tuple([])` marks an optional parameter without a default.
    var defaultValue: Value?
    var aliases: [String] = []
    /// The smallest value an integer (or each of a pair) may take; sizes are 1, paddings 0.
    var minimum: Int? = 1

    static func required(_ name: String, _ kind: Kind, aliases: [String] = [], minimum: Int? = 1) -> Self {
      Parameter(name: name, kind: kind, defaultValue: nil, aliases: aliases, minimum: minimum)
    }
    static func optional(_ name: String, _ kind: Kind, _ value: Value? = nil, aliases: [String] = [],
                         minimum: Int? = 1) -> Self {
      Parameter(name: name, kind: kind, defaultValue: value ?? .tuple([]), aliases: aliases, minimum: minimum)
    }
  }

  /// No single size may exceed this: products of a few stay far from Int's range, and no tensor that large fits.
  static let largestSize = 1 << 31

  enum Inputs: Sendable {
    case one, two, many

    var range: ClosedRange<Int> {
      switch self {
      case .one: return 1...1
      case .two: return 2...2
      case .many: return 1...Int.max
      }
    }
  }

  typealias Lowering = @Sendable (inout LoweringContext, [Int], Arguments) throws(DiagnosticError) -> Int

  var name: String
  var parameters: [Parameter]
  var inputs: Inputs = .one
  var lower: Lowering
}

/// Arguments after binding and type checking; accessors unwrap what the binding already validated.
struct Arguments {
  var values: [String: Value]

  func has(_ name: String) -> Bool {
    if case .tuple(let items)? = values[name], items.isEmpty { return false }
    return values[name] != nil
  }
  func int(_ name: String) -> Int { if case .int(let v)? = values[name] { return v }; preconditionFailure(name) }
  func float(_ name: String) -> Float {
    switch values[name] {
    case .float(let v)?: return Float(v)
    case .int(let v)?: return Float(v)
    default: preconditionFailure(name)
    }
  }
  func bool(_ name: String) -> Bool { if case .bool(let v)? = values[name] { return v }; preconditionFailure(name) }
  func string(_ name: String) -> String { if case .string(let v)? = values[name] { return v }; preconditionFailure(name) }
  func pair(_ name: String) -> [Int] {
    switch values[name] {
    case .int(let v)?: return [v, v]
    case .tuple(let items)?: return items.map { if case .int(let v) = $0 { v } else { preconditionFailure(name) } }
    default: preconditionFailure(name)
    }
  }
  func dims(_ name: String) -> [Dim] {
    if case .tuple(let items)? = values[name] { return items.compactMap(\.asDim) }
    preconditionFailure(name)
  }
}

/// What a lowering needs: the graph under construction, the layer's path (weight prefix) and location.
struct LoweringContext {
  var graph: Graph
  var initializers: [String: Initializer]
  /// Parameters of layers declared `trainable=false`.
  var frozen: Set<String> = []
  /// A layer with several results (`lstm`: output, h_n, c_n) lists them here; `name[i]` reads them in the spec.
  var results: [Int] = []
  /// Batch-norm momentum per running_mean buffer, where it is not PyTorch's 0.1.
  var batchNormMomentum: [String: Float] = [:]
  var path: String
  var location: SourceLocation
  /// Set when lowering for incremental decoding (`danlu sample`): the model runs on one new position.
  var decode: DecodeState?

  func type(_ value: Int) -> TensorType { graph.nodes[value].type }

  mutating func node(_ op: Op, _ operands: [Int]) throws(DiagnosticError) -> Int {
    try graph.add(op, operands, name: path, location: location)
  }

  /// A parameter named `path.suffix`, like the PyTorch `state_dict` key.
  mutating func parameter(_ suffix: String, _ shape: [Int], _ initializer: Initializer, buffer: Bool = false)
    throws(DiagnosticError) -> Int
  {
    let name = path.isEmpty ? suffix : "\(path).\(suffix)"
    try ShapeInference.checkSize(TensorType(.f32, shape.map(Dim.int)), layer: path, op: "the weight \(name)", at: location)
    initializers[name] = initializer
    return graph.addLeaf(buffer ? .buffer(name) : .parameter(name), type: TensorType(.f32, shape.map(Dim.int)), name: path, location: location)
  }

  /// A dimension that sizes a parameter must be known when the model is built.
  func staticDim(_ dim: Dim, of value: Int, what: String) throws(DiagnosticError) -> Int {
    if let v = dim.staticValue { return v }
    throw DiagnosticError(.shapeMismatch(layer: path, op: what, shapes: [type(value).description],
                                         detail: "the size \(dim) sizes a weight and must be a known integer"),
                          at: location)
  }

  func fail(_ op: String, _ detail: String, _ operands: [Int]) -> DiagnosticError {
    DiagnosticError(.shapeMismatch(layer: path, op: op, shapes: operands.map { type($0).description }, detail: detail),
                    at: location)
  }
}

/// Incremental decoding: each causal self-attention keeps the keys and values of earlier positions in a cache the
/// caller holds (graph inputs `past:PATH.key` / `past:PATH.value`, [N, length, E]) and returns the new position's
/// (outputs `present:PATH.key` / `present:PATH.value`, [N, 1, E]) for the caller to store at row `position`. The
/// inputs `decode:position` [N, 1] (the new position's index) and `decode:mask` [N, length + 1] (1 hides a cache
/// row not yet written; the last entry, the new position itself, is 0) are shared by every layer.
public struct DecodeState: Sendable {
  public static let positionInput = "decode:position", maskInput = "decode:mask"
  public static let pastPrefix = "past:", presentPrefix = "present:"

  /// Positions the cache holds: the longest context decoded.
  public var length: Int
  var position: Int?
  var mask: Int?
  /// Outputs to add to the graph: (name, value).
  var outputs: [(String, Int)] = []

  public init(length: Int) { self.length = length }
}

extension LoweringContext {
  /// The shared position input [N, 1], added on first use.
  mutating func decodePosition(batch: Dim) -> Int {
    if let existing = decode?.position { return existing }
    let value = graph.addLeaf(.input(DecodeState.positionInput), type: TensorType(.f32, [batch, .int(1)]),
                              name: DecodeState.positionInput, location: location)
    decode?.position = value
    return value
  }

  /// The attention operands for one new position: (q, past keys + k, past values + v, mask).
  mutating func decodeCache(key: Int, value: Int, query: Int) throws(DiagnosticError) -> [Int] {
    guard let length = decode?.length else { preconditionFailure("decodeCache outside decoding") }
    let type = graph.nodes[key].type
    let (batch, width) = (type.shape[0], type.shape[2])
    if decode?.mask == nil {
      decode?.mask = graph.addLeaf(.input(DecodeState.maskInput), type: TensorType(.f32, [batch, .int(length + 1)]),
                                   name: DecodeState.maskInput, location: location)
    }
    var joined: [Int] = []
    for (part, new) in [("key", key), ("value", value)] {
      let name = "\(path).\(part)"
      let past = graph.addLeaf(.input(DecodeState.pastPrefix + name), type: TensorType(.f32, [batch, .int(length), width]),
                               name: DecodeState.pastPrefix + name, location: location)
      decode?.outputs.append((DecodeState.presentPrefix + name, new))
      joined.append(try node(.concat(axis: 1), [past, new]))
    }
    return [query] + joined + [decode!.mask!]
  }
}
