import DanluDiagnostics

/// One IR value: an operation applied to earlier values. Nodes live in `Graph.nodes`; a value is its index there,
/// so operands always point backwards and a graph is acyclic by construction.
public struct Node: Hashable, Sendable {
  public var op: Op
  public var type: TensorType
  public var operands: [Int]
  /// The layer path this node came from (`layer1.0.conv1`): kernel names, profiles and messages use it.
  public var name: String
  public var location: SourceLocation

  public init(op: Op, type: TensorType, operands: [Int], name: String, location: SourceLocation) {
    self.op = op
    self.type = type
    self.operands = operands
    self.name = name
    self.location = location
  }
}

public struct GraphOutput: Hashable, Sendable {
  public var name: String
  public var value: Int

  public init(name: String, value: Int) {
    self.name = name
    self.value = value
  }
}

/// A function from named inputs and parameters to named outputs.
public struct Graph: Hashable, Sendable {
  public var name: String
  public var nodes: [Node] = []
  public var outputs: [GraphOutput] = []
  /// Set by the `plan-memory` pass; codegen gives every value its own slot without it.
  public var memoryPlan: MemoryPlan?

  public init(name: String) { self.name = name }

  public var inputs: [Int] { nodes.indices.filter { if case .input = nodes[$0].op { true } else { false } } }
  /// Every stored tensor, parameters and buffers: what a weights file holds.
  public var parameters: [Int] { nodes.indices.filter { parameterName($0) != nil } }

  /// The `state_dict` key of a parameter or buffer.
  public func parameterName(_ value: Int) -> String? {
    switch nodes[value].op {
    case .parameter(let name), .buffer(let name): return name
    default: return nil
    }
  }

  public func inputName(_ value: Int) -> String? {
    if case .input(let name) = nodes[value].op { return name }
    return nil
  }

  /// Adds an input or parameter of a given type.
  @discardableResult
  public mutating func addLeaf(_ op: Op, type: TensorType, name: String, location: SourceLocation = .unknown) -> Int {
    nodes.append(Node(op: op, type: type, operands: [], name: name, location: location))
    return nodes.count - 1
  }

  /// Adds a computation, inferring its type; a shape error names the layer and the shapes involved.
  @discardableResult
  public mutating func add(_ op: Op, _ operands: [Int], name: String, location: SourceLocation = .unknown)
    throws(DiagnosticError) -> Int
  {
    let type = try ShapeInference.infer(op, operands.map { nodes[$0].type }, layer: name, at: location)
    try ShapeInference.checkSize(type, layer: name, op: op.mnemonic, at: location)
    nodes.append(Node(op: op, type: type, operands: operands, name: name, location: location))
    return nodes.count - 1
  }

  /// Adds a reshape to `shape`, checking that the element count is unchanged.
  @discardableResult
  public mutating func reshape(_ value: Int, to shape: [Dim], name: String, location: SourceLocation = .unknown)
    throws(DiagnosticError) -> Int
  {
    let source = nodes[value].type
    let target = TensorType(source.dtype, shape)
    try ShapeInference.checkReshape(from: source, to: target, layer: name, at: location)
    nodes.append(Node(op: .reshape, type: target, operands: [value], name: name, location: location))
    return nodes.count - 1
  }

  /// Every node's users, by index.
  public func users() -> [[Int]] {
    var result = Array(repeating: [Int](), count: nodes.count)
    for (index, node) in nodes.enumerated() {
      for operand in node.operands { result[operand].append(index) }
    }
    return result
  }

  /// The graph with every symbolic dimension in `bindings` replaced by its value.
  public func binding(_ bindings: [String: Int]) -> Graph {
    var bound = self
    for index in bound.nodes.indices { bound.nodes[index].type = bound.nodes[index].type.binding(bindings) }
    return bound
  }

  /// Symbols still free in any node's type.
  public var freeSymbols: Set<String> {
    nodes.reduce(into: Set<String>()) { set, node in
      for dim in node.type.shape { set.formUnion(dim.symbols) }
    }
  }
}
