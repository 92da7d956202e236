/// A dense row-major tensor in host memory. `Tensor` (f32) is what the interpreter, the runtime and weight files
/// hold; the interpreter also runs in `Values<Double>` for finite-difference gradient checks.
public struct Values<Element: BinaryFloatingPoint & Sendable>: Hashable, Sendable {
  public var shape: [Int]
  public var data: [Element]

  public init(shape: [Int], data: [Element]) {
    precondition(shape.reduce(1, *) == data.count, "tensor data of \(data.count) elements for shape \(shape)")
    self.shape = shape
    self.data = data
  }

  /// The same tensor in another element type.
  public init<Other>(_ other: Values<Other>) { self.init(shape: other.shape, data: other.data.map(Element.init)) }

  public init(zeros shape: [Int]) { self.init(shape: shape, data: Array(repeating: 0, count: shape.reduce(1, *))) }

  public var count: Int { data.count }

  /// ‖a − b‖ / ‖b‖, the error measure used to compare against an oracle.
  public func relativeError(to reference: Values) -> Double {
    var difference = 0.0, norm = 0.0
    for (a, b) in zip(data, reference.data) {
      difference += Double(a - b) * Double(a - b)
      norm += Double(b) * Double(b)
    }
    return (difference / max(norm, 1e-30)).squareRoot()
  }
}

public typealias Tensor = Values<Float>

extension Values where Element == Float {
  /// Uniform in [-1, 1), reproducible from the seed.
  public static func random(_ shape: [Int], seed: UInt64) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in generator.nextSymmetric() })
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
