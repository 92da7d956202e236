/// One dimension of a tensor shape: a constant, a symbol (`N`), or arithmetic on those, kept folded so that
/// structurally equal expressions mean equal sizes (`H-2`, `(H-1)//2+1`, `N*4`).
public indirect enum Dim: Hashable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
  case int(Int)
  case symbol(String)
  case add(Dim, Dim)
  case mul(Dim, Dim)
  case floorDiv(Dim, Int)

  public init(integerLiteral value: Int) { self = .int(value) }

  public var staticValue: Int? {
    if case .int(let v) = self { return v }
    return nil
  }

  public var symbols: Set<String> {
    switch self {
    case .int: return []
    case .symbol(let s): return [s]
    case .add(let a, let b), .mul(let a, let b): return a.symbols.union(b.symbols)
    case .floorDiv(let a, _): return a.symbols
    }
  }

  // MARK: Folding constructors

  public static func + (lhs: Dim, rhs: Dim) -> Dim {
    switch (lhs, rhs) {
    case (.int(let a), .int(let b)): return .int(a &+ b)  // wraps, never traps: ShapeInference rejects the result
    case (_, .int(0)): return lhs
    case (.int(0), _): return rhs
    case (.int, _): return rhs + lhs
    case (.add(let x, .int(let a)), .int(let b)): return x + .int(a &+ b)
    default: return .add(lhs, rhs)
    }
  }

  public static func - (lhs: Dim, rhs: Dim) -> Dim { lhs + rhs * .int(-1) }

  public static func * (lhs: Dim, rhs: Dim) -> Dim {
    switch (lhs, rhs) {
    case (.int(let a), .int(let b)): return .int(a &* b)
    case (_, .int(1)): return lhs
    case (.int(1), _): return rhs
    case (_, .int(0)), (.int(0), _): return .int(0)
    case (.int, _): return rhs * lhs
    case (.mul(let x, .int(let a)), .int(let b)): return x * .int(a &* b)
    default: return .mul(lhs, rhs)
    }
  }

  /// Python's `//` (floor division) by a positive constant.
  public func floorDivided(by divisor: Int) -> Dim {
    precondition(divisor > 0, "floor division by \(divisor)")
    switch self {
    case .int(let a): return .int(Int((Double(a) / Double(divisor)).rounded(.down)))
    case _ where divisor == 1: return self
    case .mul(let x, .int(let a)) where a % divisor == 0: return x * .int(a / divisor)
    default: return .floorDiv(self, divisor)
    }
  }

  // MARK: Evaluation

  /// The value with every symbol bound, or nil when one is unbound.
  public func evaluate(_ bindings: [String: Int]) -> Int? {
    switch self {
    case .int(let v): return v
    case .symbol(let s): return bindings[s]
    case .add(let a, let b):
      guard let x = a.evaluate(bindings), let y = b.evaluate(bindings) else { return nil }
      return x &+ y
    case .mul(let a, let b):
      guard let x = a.evaluate(bindings), let y = b.evaluate(bindings) else { return nil }
      return x &* y
    case .floorDiv(let a, let d):
      guard let x = a.evaluate(bindings) else { return nil }
      return Dim.int(x).floorDivided(by: d).staticValue
    }
  }

  /// Substitutes bound symbols and folds again.
  public func binding(_ bindings: [String: Int]) -> Dim {
    switch self {
    case .int: return self
    case .symbol(let s): return bindings[s].map(Dim.int) ?? self
    case .add(let a, let b): return a.binding(bindings) + b.binding(bindings)
    case .mul(let a, let b): return a.binding(bindings) * b.binding(bindings)
    case .floorDiv(let a, let d): return a.binding(bindings).floorDivided(by: d)
    }
  }

  // MARK: Printing (the IR parser reads this form back)

  public var description: String { render(precedence: 0) }

  private func render(precedence: Int) -> String {
    switch self {
    case .int(let v): return v < 0 && precedence > 0 ? "(\(v))" : String(v)
    case .symbol(let s): return s
    case .add(let a, .int(let b)) where b < 0:
      return wrap("\(a.render(precedence: 1))-\(-b)", if: precedence > 1)
    case .add(let a, let b):
      return wrap("\(a.render(precedence: 1))+\(b.render(precedence: 1))", if: precedence > 1)
    case .mul(let a, let b):
      return wrap("\(a.render(precedence: 2))*\(b.render(precedence: 3))", if: precedence > 2)
    case .floorDiv(let a, let d):
      return wrap("\(a.render(precedence: 2))//\(d)", if: precedence > 2)
    }
  }

  private func wrap(_ text: String, if condition: Bool) -> String { condition ? "(\(text))" : text }
}
