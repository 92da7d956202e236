import DanluIR

/// A tensor as the interpreter holds it: row-major elements of float32 (what generated code computes, to compare) or
/// float64 (what finite-difference gradient checks need).
public struct Values<Element: BinaryFloatingPoint & Sendable>: Sendable {
  public var shape: [Int]
  public var data: [Element]

  public init(shape: [Int], data: [Element]) {
    precondition(shape.reduce(1, *) == data.count, "\(data.count) elements for shape \(shape)")
    self.shape = shape
    self.data = data
  }

  public init(_ tensor: Tensor) { self.init(shape: tensor.shape, data: tensor.data.map(Element.init)) }

  public var count: Int { data.count }
  public var tensor: Tensor { Tensor(shape: shape, data: data.map(Float.init)) }
}
