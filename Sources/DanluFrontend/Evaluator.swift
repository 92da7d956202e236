import DanluDiagnostics
import DanluIR
import DanluSpec

/// Expression evaluation, argument binding and layer application for the frontend walker.
extension Walker {
  mutating func eval(_ expr: Expr, _ scope: Scope, path: String = "") throws(DiagnosticError) -> Value {
    let at = expr.location
    switch expr.kind {
    case .int(let v): return .int(v)
    case .float(let v): return .float(v)
    case .bool(let v): return .bool(v)
    case .string(let v): return .string(v)
    case .previous: return .tensor(try input(scope, at: at))
    case .name(let name): return try lookup(name, scope, at: at, asCallee: false)
    case .tuple(let items):
      var values: [Value] = []
      for item in items { values.append(try eval(item, scope, path: path)) }
      return .tuple(values)
    case .subscript(let base, let items):
      // `rnn[1]`: one of the results of a layer that has several (an LSTM's output, h_n, c_n).
      guard case .tensor(let tensor) = try eval(base, scope, path: path), items.count == 1,
            case .int(let index) = try eval(items[0], scope, path: path) else {
        throw DiagnosticError(.notALayer(expr.description), at: at)
      }
      guard let results = layerResults[tensor], (0..<results.count).contains(index) else {
        let count = layerResults[tensor]?.count ?? 1
        throw DiagnosticError(.badArgument(layer: path, op: "\(base)[…]", argument: "index", expected:
          count == 1 ? "no index: '\(base)' has one result (rnn, lstm and gru layers have several)" : "0 to \(count - 1)",
          found: "\(index)"), at: items[0].location)
      }
      return .tensor(results[index])
    case .unary(let op, let operand):
      let value = try eval(operand, scope, path: path)
      switch (op, value) {
      case ("-", .int(let v)): return .int(-v)
      case ("-", .float(let v)): return .float(-v)
      case ("-", .dim(let d)): return .dim(d * .int(-1))
      case ("not", .bool(let b)): return .bool(!b)
      default: throw DiagnosticError(.badOperand(op: op, operand: value.description), at: at)
      }
    case .binary(let op, let lhs, let rhs):
      return try arithmetic(op, try eval(lhs, scope, path: path), try eval(rhs, scope, path: path), at: at)
    case .conditional(let then, let condition, let otherwise):
      guard case .bool(let flag) = try eval(condition, scope, path: path) else {
        throw DiagnosticError(.badOperand(op: "if", operand: condition.description), at: condition.location)
      }
      return try eval(flag ? then : otherwise, scope, path: path)
    case .call(let callee, let arguments):
      if case .name("repeat") = callee.kind { return try repeatLayer(arguments, scope, path: path, at: at) }
      let calleeValue: Value
      if case .name(let name) = callee.kind {
        calleeValue = try lookup(name, scope, at: callee.location, asCallee: true)
      } else {
        calleeValue = try eval(callee, scope, path: path)
      }
      guard case .layer(let layer) = calleeValue else {
        throw DiagnosticError(.notALayer(callee.description), at: callee.location)
      }
      var values: [(label: String?, value: Value, location: SourceLocation)] = []
      for argument in arguments {
        values.append((argument.label, try eval(argument.value, scope, path: path), argument.location))
      }
      if layer.constructed {
        // `conv2d(64, kernel=1)(x)`: apply an already built layer to tensors.
        var inputs: [Int] = []
        for v in values {
          guard v.label == nil, case .tensor(let t) = v.value else { throw DiagnosticError(.notATensor(v.value.description), at: v.location) }
          inputs.append(t)
        }
        return .tensor(try apply(layer, inputs, path: path, at: at))
      }
      return try construct(layer, values, scope, path: path, at: at)
    }
  }

  func lookup(_ name: String, _ scope: Scope, at location: SourceLocation, asCallee: Bool) throws(DiagnosticError) -> Value {
    if let value = scope.names[name] { return value }
    if let dim = dims[name] { return dim.staticValue.map(Value.int) ?? .dim(dim) }
    if let definition = LayerCatalog.all[name] {
      return .layer(Layer(callee: .op(definition), arguments: [:], location: location, constructed: false))
    }
    if let block = blocks[name] {
      return .layer(Layer(callee: .block(block), arguments: [:], location: location, constructed: false))
    }
    if let later = laterNames[name] { throw DiagnosticError(.forwardReference(name, definedAt: later), at: location) }
    let layers = Array(LayerCatalog.all.keys) + Array(blocks.keys) + ["repeat"]
    if asCallee { throw DiagnosticError(.unknownOp(name, suggestion: closestMatch(to: name, in: layers.sorted())), at: location) }
    let candidates = (Array(scope.names.keys) + Array(dims.keys)).sorted() + layers.sorted()
    throw DiagnosticError(.undefinedName(name, suggestion: closestMatch(to: name, in: candidates)), at: location)
  }

  func arithmetic(_ op: String, _ lhs: Value, _ rhs: Value, at location: SourceLocation) throws(DiagnosticError) -> Value {
    switch (op, lhs, rhs) {
    case ("+", .int(let a), .int(let b)): return .int(a + b)
    case ("-", .int(let a), .int(let b)): return .int(a - b)
    case ("*", .int(let a), .int(let b)): return .int(a * b)
    case ("//", .int(let a), .int(let b)) where b > 0: return .int(Dim.int(a).floorDivided(by: b).staticValue!)
    case ("%", .int(let a), .int(let b)) where b > 0: return .int(((a % b) + b) % b)
    case ("==", .int(let a), .int(let b)): return .bool(a == b)
    case ("!=", .int(let a), .int(let b)): return .bool(a != b)
    case ("<", .int(let a), .int(let b)): return .bool(a < b)
    case ("<=", .int(let a), .int(let b)): return .bool(a <= b)
    case (">", .int(let a), .int(let b)): return .bool(a > b)
    case (">=", .int(let a), .int(let b)): return .bool(a >= b)
    case ("==", .bool(let a), .bool(let b)): return .bool(a == b)
    case ("!=", .bool(let a), .bool(let b)): return .bool(a != b)
    case ("and", .bool(let a), .bool(let b)): return .bool(a && b)
    case ("or", .bool(let a), .bool(let b)): return .bool(a || b)
    default: break
    }
    if let a = lhs.asDim, let b = rhs.asDim {
      switch op {
      case "+": return .dim(a + b)
      case "-": return .dim(a - b)
      case "*": return .dim(a * b)
      case "//": if let d = b.staticValue, d > 0 { return .dim(a.floorDivided(by: d)) }
      default: break
      }
    }
    if let a = number(lhs), let b = number(rhs) {
      switch op {
      case "+": return .float(a + b)
      case "-": return .float(a - b)
      case "*": return .float(a * b)
      case "/" where b != 0: return .float(a / b)
      default: break
      }
    }
    throw DiagnosticError(.badOperand(op: op, operand: "\(lhs.description) and \(rhs.description)"), at: location)
  }

  private func number(_ value: Value) -> Double? {
    switch value {
    case .int(let v): return Double(v)
    case .float(let v): return v
    default: return nil
    }
  }

  // MARK: Building layers

  mutating func repeatLayer(_ arguments: [Argument], _ scope: Scope, path: String, at location: SourceLocation)
    throws(DiagnosticError) -> Value
  {
    guard arguments.count == 2, arguments.allSatisfy({ $0.label == nil }) else {
      throw DiagnosticError(.extraArgument(layer: path, op: "repeat", detail: "takes a count and a layer: repeat(2, BasicBlock(64))"),
                            at: location)
    }
    guard case .int(let count) = try eval(arguments[0].value, scope, path: path), (1...10_000).contains(count) else {
      throw DiagnosticError(.badArgument(layer: path, op: "repeat", argument: "count", expected: "an integer from 1 to 10000",
                                         found: arguments[0].value.description), at: arguments[0].location)
    }
    guard case .layer(var body) = try eval(arguments[1].value, scope, path: path) else {
      throw DiagnosticError(.notALayer(arguments[1].value.description), at: arguments[1].location)
    }
    body = try constructedLayer(body, scope, path: path, at: arguments[1].location)
    return .layer(Layer(callee: .repeatLayer(count: count, body: Layer.Box(body)), arguments: [:], location: location,
                        constructed: true))
  }

  /// A bare layer name gets its defaults bound; an already built layer is returned as is.
  mutating func constructedLayer(_ layer: Layer, _ scope: Scope, path: String, at location: SourceLocation)
    throws(DiagnosticError) -> Layer
  {
    if layer.constructed { return layer }
    guard case .layer(let built) = try construct(layer, [], scope, path: path, at: location) else {
      preconditionFailure("construct without tensor arguments returns a layer")
    }
    return built
  }

  /// Binds arguments to a layer's or block's parameters; tensor arguments are inputs and apply it at once.
  mutating func construct(_ layer: Layer, _ arguments: [(label: String?, value: Value, location: SourceLocation)],
                          _ scope: Scope, path: String, at location: SourceLocation) throws(DiagnosticError) -> Value
  {
    var inputs: [Int] = []
    var rest: [(label: String?, value: Value, location: SourceLocation)] = []
    var built = layer
    for argument in arguments {
      if argument.label == nil, case .tensor(let t) = argument.value {
        inputs.append(t)
      } else if argument.label == "trainable" {
        guard case .bool(let flag) = argument.value else {
          throw DiagnosticError(.badArgument(layer: path, op: layer.callee.name, argument: "trainable", expected: "true or false",
                                             found: argument.value.description), at: argument.location)
        }
        built.trainable = flag
      } else {
        rest.append(argument)
      }
    }
    built.constructed = true
    switch layer.callee {
    case .op(let definition): built.arguments = try bind(definition, rest, path: path, at: location)
    case .block(let block): built.arguments = try bind(block, rest, at: location)
    case .repeatLayer: break
    }
    return inputs.isEmpty ? .layer(built) : .tensor(try apply(built, inputs, path: path, at: location))
  }

  func bind(_ definition: LayerDefinition, _ arguments: [(label: String?, value: Value, location: SourceLocation)],
            path: String, at location: SourceLocation) throws(DiagnosticError) -> [String: Value]
  {
    let op = definition.name
    var bound: [String: Value] = [:]
    var positional = definition.parameters.makeIterator()
    var variadic: [Value] = []
    for argument in arguments {
      let parameter: LayerDefinition.Parameter
      if let label = argument.label {
        guard let p = definition.parameters.first(where: { $0.name == label || $0.aliases.contains(label) }) else {
          let names = definition.parameters.flatMap { [$0.name] + $0.aliases }
          throw DiagnosticError(.unknownArgument(layer: path, op: op, argument: label, suggestion: closestMatch(to: label, in: names)),
                                at: argument.location)
        }
        parameter = p
      } else if definition.parameters.first?.kind == .dims {
        variadic.append(argument.value)
        continue
      } else {
        guard let p = positional.next() else {
          throw DiagnosticError(.extraArgument(layer: path, op: op, detail: "takes at most \(definition.parameters.count) "
            + "positional argument\(definition.parameters.count == 1 ? "" : "s") (\(definition.parameters.map(\.name).joined(separator: ", ")))"),
                                at: argument.location)
        }
        parameter = p
      }
      guard bound[parameter.name] == nil else {
        throw DiagnosticError(.extraArgument(layer: path, op: op, detail: "got '\(parameter.name)' twice"), at: argument.location)
      }
      bound[parameter.name] = try check(argument.value, parameter, op: op, path: path, at: argument.location)
    }
    if definition.parameters.first?.kind == .dims {
      for value in variadic where value.asDim == nil {
        throw DiagnosticError(.badArgument(layer: path, op: op, argument: "shape", expected: "dimensions", found: value.description),
                              at: location)
      }
      if variadic.isEmpty { throw DiagnosticError(.missingArgument(layer: path, op: op, argument: "shape"), at: location) }
      bound["shape"] = .tuple(variadic)
    }
    for parameter in definition.parameters where bound[parameter.name] == nil {
      guard let value = parameter.defaultValue else {
        throw DiagnosticError(.missingArgument(layer: path, op: op, argument: parameter.name), at: location)
      }
      bound[parameter.name] = value
    }
    return bound
  }

  func check(_ value: Value, _ parameter: LayerDefinition.Parameter, op: String, path: String, at location: SourceLocation)
    throws(DiagnosticError) -> Value
  {
    // Integer sizes must be in range: a zero stride or kernel has no meaning and would divide by zero.
    var integers: [Int] = []
    if case .int(let v) = value { integers = [v] }
    if case .tuple(let items) = value { integers = items.compactMap { if case .int(let v) = $0 { v } else { nil } } }
    if [.int, .pair].contains(parameter.kind), let minimum = parameter.minimum,
       let bad = integers.first(where: { $0 < minimum || $0 > LayerDefinition.largestSize }) {
      let expected = minimum == 0 ? "zero or more" : "at least \(minimum)"
      throw DiagnosticError(.badArgument(layer: path, op: op, argument: parameter.name,
                                         expected: bad > LayerDefinition.largestSize ? "at most \(LayerDefinition.largestSize)" : expected,
                                         found: "\(bad)"), at: location)
    }
    switch (parameter.kind, value) {
    case (.int, .int), (.bool, .bool), (.float, .float), (.pair, .int), (.string, .string): return value
    case (.float, .int(let v)): return .float(Double(v))
    case (.pair, .tuple(let items)) where items.count == 2 && items.allSatisfy({ if case .int = $0 { true } else { false } }):
      return value
    default:
      throw DiagnosticError(.badArgument(layer: path, op: op, argument: parameter.name, expected: parameter.kind.expected,
                                         found: value.description), at: location)
    }
  }

  func bind(_ block: BlockSpec, _ arguments: [(label: String?, value: Value, location: SourceLocation)],
            at location: SourceLocation) throws(DiagnosticError) -> [String: Value]
  {
    var bound: [String: Value] = [:]
    var positional = 0
    for argument in arguments {
      let name: String
      if let label = argument.label {
        guard block.parameters.contains(where: { $0.name == label }) else {
          throw DiagnosticError(.blockArity(block: block.name, detail: "has no parameter '\(label)'"
            + DiagnosticMessage.suggest(closestMatch(to: label, in: block.parameters.map(\.name)))), at: argument.location)
        }
        name = label
      } else {
        guard positional < block.parameters.count else {
          throw DiagnosticError(.blockArity(block: block.name, detail: "takes \(block.parameters.count) parameter"
            + "\(block.parameters.count == 1 ? "" : "s") (\(block.parameters.map(\.name).joined(separator: ", "))), got more"),
                                at: argument.location)
        }
        name = block.parameters[positional].name
        positional += 1
      }
      bound[name] = argument.value
    }
    for parameter in block.parameters where bound[parameter.name] == nil && parameter.defaultValue == nil {
      throw DiagnosticError(.blockArity(block: block.name, detail: "needs a value for '\(parameter.name)'"), at: location)
    }
    return bound
  }

  // MARK: Applying layers

  mutating func apply(_ layer: Layer, _ inputs: [Int], path: String, at location: SourceLocation) throws(DiagnosticError) -> Int {
    guard layer.trainable else {
      // Every parameter the layer creates, in nested blocks too, is frozen.
      let first = context.graph.nodes.count
      var unfrozen = layer
      unfrozen.trainable = true
      let result = try apply(unfrozen, inputs, path: path, at: location)
      for index in first..<context.graph.nodes.count {
        if case .parameter(let name) = context.graph.nodes[index].op { context.frozen.insert(name) }
      }
      return result
    }
    switch layer.callee {
    case .op(let definition):
      guard definition.inputs.range.contains(inputs.count) else {
        let count = definition.inputs.range.lowerBound
        throw DiagnosticError(.extraArgument(layer: path, op: definition.name,
          detail: "takes \(definition.inputs == .many ? "one or more tensors" : "\(count) tensor\(count == 1 ? "" : "s")"), got \(inputs.count)"),
                              at: location)
      }
      context.path = path
      context.location = location
      context.results = []
      let output = try definition.lower(&context, inputs, Arguments(values: layer.arguments))
      if !context.results.isEmpty { layerResults[output] = context.results }
      return output
    case .repeatLayer(let count, let body):
      // The first tensor flows through the copies; the others (a decoder's memory, a mask) go to each unchanged.
      var x = inputs[0]
      for i in 0..<count { x = try apply(body.layer, [x] + inputs.dropFirst(), path: "\(path).\(i)", at: location) }
      return x
    case .block(let block):
      guard inputs.count == 1 else {
        throw DiagnosticError(.blockArity(block: block.name, detail: "takes one input tensor, got \(inputs.count)"), at: location)
      }
      guard !expanding.contains(block.name) else { throw DiagnosticError(.blockRecursion(block.name), at: location) }
      expanding.append(block.name)
      defer { expanding.removeLast() }
      var scope = Scope(names: ["input": .tensor(inputs[0])], previous: inputs[0], prefix: path)
      for parameter in block.parameters {
        if let value = layer.arguments[parameter.name] {
          scope.names[parameter.name] = value
        } else if let defaultValue = parameter.defaultValue {
          scope.names[parameter.name] = try eval(defaultValue, scope, path: path)
        }
      }
      guard !block.body.isEmpty else { throw DiagnosticError(.emptyLayers("block '\(block.name)'"), at: block.location) }
      return try walk(block.body, scope).0
    }
  }

  /// A layer item's value becomes a tensor: a layer is applied to the previous output; a tensor is itself.
  mutating func materialize(_ value: Value, _ scope: Scope, path: String, at location: SourceLocation)
    throws(DiagnosticError) -> Int
  {
    switch value {
    case .tensor(let t): return t
    case .layer(let layer):
      let built = try constructedLayer(layer, scope, path: path, at: location)
      return try apply(built, [try input(scope, at: location)], path: path, at: location)
    default:
      throw DiagnosticError(.notALayer(value.description), at: location)
    }
  }
}
