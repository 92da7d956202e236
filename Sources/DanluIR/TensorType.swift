/// Element types. Everything computes in `f32` today; `i64` is there for labels and indices.
public enum DType: String, Hashable, Sendable, CaseIterable {
  case f32, f64, i64

  public var byteSize: Int {
    switch self {
    case .f32: return 4
    case .f64, .i64: return 8
    }
  }
}

/// A tensor's element type and shape, written `f32[N,1,28,28]`.
public struct TensorType: Hashable, Sendable, CustomStringConvertible {
  public var dtype: DType
  public var shape: [Dim]

  public init(_ dtype: DType, _ shape: [Dim]) {
    self.dtype = dtype
    self.shape = shape
  }

  public var rank: Int { shape.count }

  /// The element count as a dimension expression.
  public var elementCount: Dim { shape.reduce(Dim.int(1), *) }

  public var staticShape: [Int]? {
    let values = shape.compactMap(\.staticValue)
    return values.count == shape.count ? values : nil
  }

  public func binding(_ bindings: [String: Int]) -> TensorType {
    TensorType(dtype, shape.map { $0.binding(bindings) })
  }

  public var description: String { "\(dtype.rawValue)[\(shape.map(\.description).joined(separator: ","))]" }
}
