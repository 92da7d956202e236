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
