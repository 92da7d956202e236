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

/// How a 4-D activation's elements lie in memory. The IR's shapes are always the logical NCHW ones (the interpreter
/// and every oracle see the same values); only the C backend reads the layout. `choose-layout` decides it.
public enum Layout: String, Hashable, Sendable {
  /// PyTorch's row-major NCHW: element (n, c, h, w) at ((n·C + c)·H + h)·W + w.
  case nchw
  /// Channels blocked by 8 (oneDNN's and ONNX Runtime's NCHWc): element (n, c, h, w) at
  /// (((n·C/8 + c/8)·H + h)·W + w)·8 + c%8, so a position's 8 channels are one AVX vector.
  case nchw8c

  /// Channels per block (1 for NCHW).
  public var block: Int { self == .nchw8c ? 8 : 1 }
}

/// A tensor's element type and shape, written `f32[N,1,28,28]`, and its layout where it is not NCHW
/// (`f32[1,128,28,28]{nchw8c}`).
public struct TensorType: Hashable, Sendable, CustomStringConvertible {
  public var dtype: DType
  public var shape: [Dim]
  public var layout: Layout = .nchw

  public init(_ dtype: DType, _ shape: [Dim], layout: Layout = .nchw) {
    self.dtype = dtype
    self.shape = shape
    self.layout = layout
  }

  /// The same type in NCHW: what shape inference gives, which knows no layouts.
  public var plain: TensorType { TensorType(dtype, shape) }

  public var rank: Int { shape.count }

  /// The element count as a dimension expression.
  public var elementCount: Dim { shape.reduce(Dim.int(1), *) }

  public var staticShape: [Int]? {
    let values = shape.compactMap(\.staticValue)
    return values.count == shape.count ? values : nil
  }

  public func binding(_ bindings: [String: Int]) -> TensorType {
    TensorType(dtype, shape.map { $0.binding(bindings) }, layout: layout)
  }

  public var description: String {
    "\(dtype.rawValue)[\(shape.map(\.description).joined(separator: ","))]" + (layout == .nchw ? "" : "{\(layout.rawValue)}")
  }
}
