import DanluDiagnostics
import DanluIR
import DanluSpec

/// A model after the frontend: the IR graph and how to initialize each parameter.
public struct Model: Sendable {
  public var graph: Graph
  public var initializers: [String: Initializer]
  /// The symbolic dimensions that were bound, by name.
  public var bindings: [String: Int]
  /// The spec's `train:` section, for `danlu train` and `danlu eval` to read.
  public var train: YAMLNode?
  /// Parameters of layers declared `trainable=false`: training leaves them as they are.
  public var frozen: Set<String> = []
  /// Batch-norm momentum per running_mean buffer, where a layer sets one other than PyTorch's 0.1.
  public var batchNormMomentum: [String: Float] = [:]
}

/// Lowers a spec AST onto the IR: resolves names, expands blocks and repeats, names weights like PyTorch's
/// `state_dict`, infers every shape, and reports the first user error with its YAML location.
public enum Frontend {
  /// The names of the spec language's built-in layers (the reference in Grammar/ lists each).
  public static var layerNames: [String] { LayerCatalog.all.keys.sorted() }

  /// - Parameters:
  ///   - bindings: sizes for symbolic dimensions (`--dim T=64`); they override the spec's `dims:` defaults.
  ///   - batch: shorthand binding for the first dimension of the first input, when it is symbolic.
  ///   - decode: lowers for incremental decoding (`DecodeState`): the first input's second (sequence) dimension is
  ///     bound to 1, and each causal self-attention reads and returns its cache.
  public static func build(_ spec: ModelSpec, bindings: [String: Int] = [:], batch: Int? = nil,
                           decode: DecodeState? = nil) throws(DiagnosticError) -> Model
  {
    var walker = Walker(spec: spec)
    walker.context.decode = decode
    return try walker.run(bindings: bindings, batch: batch)
  }
}

struct Scope {
  var names: [String: Value] = [:]
  var previous: Int?
  var prefix: String = ""

  func path(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }
}

struct Walker {
  let spec: ModelSpec
  var context: LoweringContext
  var blocks: [String: BlockSpec] = [:]
  /// Every symbolic dimension seen so far: bound ones map to constants.
  var dims: [String: Dim] = [:]
  var expanding: [String] = []
  /// The results of layers with several (by their first result, the value a name binds): `name[i]` reads them.
  var layerResults: [Int: [Int]] = [:]
  /// Names defined later in the lists being walked: using one is a forward reference, which would be a cycle.
  var laterNames: [String: SourceLocation] = [:]

  init(spec: ModelSpec) {
    self.spec = spec
    self.context = LoweringContext(graph: Graph(name: spec.name), initializers: [:], path: "", location: spec.location)
  }

  mutating func run(bindings: [String: Int], batch: Int?) throws(DiagnosticError) -> Model {
    for block in spec.blocks {
      if blocks[block.name] != nil || LayerCatalog.all[block.name] != nil {
        throw DiagnosticError(.duplicateName(block.name), at: block.location)
      }
      blocks[block.name] = block
    }
    var bound = Dictionary(spec.dimDefaults.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
    bound.merge(bindings) { $1 }
    // The batch is the dimension named N where the first input has one (sequence-first inputs are [T, N, …]), else
    // its first dimension.
    if let batch, let first = spec.inputs.first, case .subscript(_, let shape) = first.type.kind {
      let symbols = shape.compactMap { if case .name(let symbol) = $0.kind { symbol } else { nil } }
      if let symbol = symbols.contains("N") ? "N" : (shape.first.flatMap { if case .name(let s) = $0.kind { s } else { nil } }) {
        bound[symbol] = bindings[symbol] ?? batch
      }
    }
    if context.decode != nil, let first = spec.inputs.first, case .subscript(_, let shape) = first.type.kind, shape.count >= 2,
       case .name(let symbol) = shape[1].kind {
      bound[symbol] = 1
    }
    for (name, value) in bound { dims[name] = .int(value) }

    var scope = Scope()
    for input in spec.inputs {
      let type = try inputType(input)
      if scope.names[input.name] != nil { throw DiagnosticError(.duplicateName(input.name), at: input.location) }
      let value = context.graph.addLeaf(.input(input.name), type: type, name: input.name, location: input.location)
      scope.names[input.name] = .tensor(value)
      if scope.previous == nil { scope.previous = value }
    }
    guard !spec.layers.isEmpty else { throw DiagnosticError(.emptyLayers("the model"), at: spec.location) }
    let (last, finalScope) = try walk(spec.layers, scope)

    if spec.outputs.isEmpty {
      context.graph.outputs = [GraphOutput(name: "output", value: last)]
    }
    for output in spec.outputs {
      var outputScope = finalScope
      outputScope.previous = last
      guard case .tensor(let value) = try eval(output.value, outputScope) else {
        throw DiagnosticError(.notATensor(output.value.description), at: output.value.location)
      }
      context.graph.outputs.append(GraphOutput(name: output.name, value: value))
    }
    for (name, value) in context.decode?.outputs ?? [] { context.graph.outputs.append(GraphOutput(name: name, value: value)) }
    let unknown = bindings.keys.filter { !context.graph.freeSymbols.contains($0) && !usedSymbols.contains($0) }.sorted()
    if let name = unknown.first {
      throw DiagnosticError(.unknownDim(name, known: usedSymbols.sorted()), at: spec.location)
    }
    Verifier.verify(context.graph, after: "the frontend")
    return Model(graph: context.graph, initializers: context.initializers,
                 bindings: bound.filter { usedSymbols.contains($0.key) }, train: spec.train, frozen: context.frozen,
                 batchNormMomentum: context.batchNormMomentum)
  }

  /// Symbols that appear in the inputs' declared shapes.
  var usedSymbols: Set<String> {
    var set: Set<String> = []
    for input in spec.inputs {
      if case .subscript(_, let shape) = input.type.kind { for dim in shape { set.formUnion(names(in: dim)) } }
    }
    return set
  }

  private func names(in expr: Expr) -> Set<String> {
    switch expr.kind {
    case .name(let n): return [n]
    case .binary(_, let l, let r): return names(in: l).union(names(in: r))
    case .unary(_, let e): return names(in: e)
    default: return []
    }
  }

  mutating func inputType(_ input: InputSpec) throws(DiagnosticError) -> TensorType {
    guard case .subscript(let base, let shape) = input.type.kind, case .name(let dtypeName) = base.kind else {
      throw DiagnosticError(.badType(input.type.description), at: input.type.location)
    }
    guard let dtype = DType(rawValue: dtypeName) else {
      throw DiagnosticError(.unknownDType(dtypeName, suggestion: closestMatch(to: dtypeName, in: DType.allCases.map(\.rawValue))),
                            at: base.location)
    }
    var dimensions: [Dim] = []
    for item in shape {
      for name in names(in: item) where dims[name] == nil { dims[name] = .symbol(name) }
      guard let dim = try eval(item, Scope()).asDim, (1...LayerDefinition.largestSize).contains(dim.staticValue ?? 1) else {
        throw DiagnosticError(.badType(input.type.description), at: item.location)
      }
      dimensions.append(dim)
    }
    return TensorType(dtype, dimensions)
  }

  // MARK: Layer lists

  /// Walks a list of layers in order; unnamed items are named by position, like `nn.Sequential`.
  mutating func walk(_ items: [LayerItem], _ outer: Scope) throws(DiagnosticError) -> (Int, Scope) {
    var scope = outer
    var localNames: Set<String> = []
    var index = 0
    let savedLaterNames = laterNames
    defer { laterNames = savedLaterNames }
    for item in items { if let name = item.name { laterNames[name] = item.location } }
    for item in items {
      let path = scope.path(item.name ?? String(index))
      let output: Int
      switch item.body {
      case .sequential(let inner):
        guard !inner.isEmpty else { throw DiagnosticError(.emptyLayers("'\(path)'"), at: item.location) }
        var innerScope = scope
        innerScope.prefix = path
        output = try walk(inner, innerScope).0
        index += 1
      case .expr(let expr):
        let value = try eval(expr, scope, path: path)
        // An unnamed `repeat` inside a list continues that list's numbering: layer3.1 … layer3.5.
        if item.name == nil, case .layer(let layer) = value, case .repeatLayer(let count, let body) = layer.callee {
          var x = try input(scope, at: expr.location)
          for i in 0..<count { x = try apply(body.layer, [x], path: scope.path(String(index + i)), at: expr.location) }
          output = x
          index += count
        } else {
          output = try materialize(value, scope, path: path, at: expr.location)
          index += 1
        }
      }
      if let name = item.name {
        guard localNames.insert(name).inserted else { throw DiagnosticError(.duplicateName(name), at: item.location) }
        scope.names[name] = .tensor(output)
        laterNames[name] = nil
      }
      scope.previous = output
    }
    guard let last = scope.previous else { throw DiagnosticError(.emptyLayers("this list"), at: spec.location) }
    return (last, scope)
  }

  func input(_ scope: Scope, at location: SourceLocation) throws(DiagnosticError) -> Int {
    guard let previous = scope.previous else { throw DiagnosticError(.notATensor("."), at: location) }
    return previous
  }
}
