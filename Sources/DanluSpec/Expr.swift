import DanluDiagnostics

/// An expression in the layer call syntax: `conv2d(planes * 4, kernel=1, bias=false)`, `f32[N, 3, H, W]`,
/// `Downsample(planes, stride)(input) if down else input`. The grammar is in `Grammar/layer-syntax.md`.
public indirect enum ExprKind: Sendable, Hashable {
  case int(Int)
  case float(Double)
  case string(String)
  case bool(Bool)
  case name(String)
  /// `.`: the output of the previous layer.
  case previous
  case call(Expr, [Argument])
  case `subscript`(Expr, [Expr])
  case tuple([Expr])
  case unary(String, Expr)
  case binary(String, Expr, Expr)
  case conditional(then: Expr, condition: Expr, otherwise: Expr)
}

public struct Expr: Sendable, Hashable, CustomStringConvertible {
  public var kind: ExprKind
  public var location: SourceLocation

  public init(_ kind: ExprKind, at location: SourceLocation) {
    self.kind = kind
    self.location = location
  }

  /// The expression written back in canonical form, for messages.
  public var description: String {
    switch kind {
    case .int(let v): return String(v)
    case .float(let v): return String(v)
    case .string(let s): return "'\(s)'"
    case .bool(let b): return b ? "true" : "false"
    case .name(let n): return n
    case .previous: return "."
    case .call(let callee, let args): return "\(callee)(\(args.map(\.description).joined(separator: ", ")))"
    case .subscript(let base, let items): return "\(base)[\(items.map(\.description).joined(separator: ", "))]"
    case .tuple(let items): return "(\(items.map(\.description).joined(separator: ", ")))"
    case .unary(let op, let e): return op == "not" ? "not \(e)" : "\(op)\(e)"
    case .binary(let op, let l, let r): return "\(l) \(op) \(r)"
    case .conditional(let t, let c, let o): return "\(t) if \(c) else \(o)"
    }
  }
}

public struct Argument: Sendable, Hashable, CustomStringConvertible {
  public var label: String?
  public var value: Expr
  public var location: SourceLocation

  public init(label: String?, value: Expr, at location: SourceLocation) {
    self.label = label
    self.value = value
    self.location = location
  }

  public var description: String { label.map { "\($0)=\(value)" } ?? value.description }
}
