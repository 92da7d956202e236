/// A dense row-major `f32` tensor in host memory: inputs, outputs and weights as the interpreter and runtime see them.
public struct Tensor: Hashable, Sendable {
  public var shape: [Int]
  public var data: [Float]

  public init(shape: [Int], data: [Float]) {
    precondition(shape.reduce(1, *) == data.count, "tensor data of \(data.count) elements for shape \(shape)")
    self.shape = shape
    self.data = data
  }

  public init(zeros shape: [Int]) { self.init(shape: shape, data: Array(repeating: 0, count: shape.reduce(1, *))) }

  /// Uniform in [-1, 1), reproducible from the seed.
  public static func random(_ shape: [Int], seed: UInt64) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in generator.nextSymmetric() })
  }

  public var count: Int { data.count }

  /// ‖a − b‖ / ‖b‖, the error measure used to compare against an oracle.
  public func relativeError(to reference: Tensor) -> Double {
    var difference = 0.0, norm = 0.0
    for (a, b) in zip(data, reference.data) {
      difference += Double(a - b) * Double(a - b)
      norm += Double(b) * Double(b)
    }
    return (difference / max(norm, 1e-30)).squareRoot()
  }
}

extension Graph {
  /// Seeded initial weights for every parameter and buffer, in graph order.
  public func initialWeights(_ initializers: [String: Initializer], seed: UInt64) -> [String: Tensor] {
    var generator = SeededGenerator(seed: seed)
    var weights: [String: Tensor] = [:]
    for value in parameters {
      let name = parameterName(value)!
      let shape = nodes[value].type.staticShape!
      let count = shape.reduce(1, *)
      weights[name] = Tensor(shape: shape, data: (initializers[name] ?? .constant(0)).fill(count: count, using: &generator))
    }
    return weights
  }
}
