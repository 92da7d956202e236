import DanluDiagnostics

/// A recursive-descent parser for the layer call syntax, located relative to the YAML scalar it came from.
public struct ExprParser {
  private struct Token {
    enum Kind: Equatable { case int(Int), float(Double), string(String), name(String), symbol(String), end }
    var kind: Kind
    var offset: Int
  }

  private let base: SourceLocation
  private var tokens: [Token] = []
  private var position = 0

  /// Parses `text` completely; `base` is where its first character sits in the YAML file.
  public static func parse(_ text: String, at base: SourceLocation) throws(DiagnosticError) -> Expr {
    var parser = ExprParser(base: base)
    try parser.tokenize(Array(text))
    let expr = try parser.parseExpr()
    guard parser.peek.kind == .end else { throw parser.unexpected("end of expression") }
    return expr
  }

  private init(base: SourceLocation) { self.base = base }

  // MARK: Lexer

  private mutating func tokenize(_ chars: [Character]) throws(DiagnosticError) {
    var i = 0
    while i < chars.count {
      let c = chars[i]
      if c == " " || c == "\t" || c == "\n" { i += 1; continue }
      let start = i
      if c.isNumber || (c == "." && i + 1 < chars.count && chars[i + 1].isNumber) {
        var isFloat = false
        while i < chars.count, chars[i].isNumber || chars[i] == "." || chars[i] == "_" ||
          ((chars[i] == "e" || chars[i] == "E") && i + 1 < chars.count) ||
          ((chars[i] == "-" || chars[i] == "+") && (chars[i - 1] == "e" || chars[i - 1] == "E")) {
          if chars[i] == "." || chars[i] == "e" || chars[i] == "E" { isFloat = true }
          i += 1
        }
        let text = String(chars[start..<i].filter { $0 != "_" })
        if !isFloat, let value = Int(text) {
          tokens.append(Token(kind: .int(value), offset: start))
        } else if let value = Double(text) {
          tokens.append(Token(kind: .float(value), offset: start))
        } else {
          throw DiagnosticError(.badNumber(text), at: base.advanced(by: start))
        }
      } else if c.isLetter || c == "_" {
        while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" { i += 1 }
        tokens.append(Token(kind: .name(String(chars[start..<i])), offset: start))
      } else if c == "'" || c == "\"" {
        i += 1
        while i < chars.count, chars[i] != c { i += 1 }
        guard i < chars.count else { throw DiagnosticError(.unterminatedString, at: base.advanced(by: start)) }
        tokens.append(Token(kind: .string(String(chars[(start + 1)..<i])), offset: start))
        i += 1
      } else {
        let two = i + 1 < chars.count ? String(chars[i...(i + 1)]) : ""
        if ["==", "!=", "<=", ">=", "//"].contains(two) {
          tokens.append(Token(kind: .symbol(two), offset: start))
          i += 2
        } else if "()[],=+-*/%<>.".contains(c) {
          tokens.append(Token(kind: .symbol(String(c)), offset: start))
          i += 1
        } else {
          throw DiagnosticError(.unexpectedCharacter(String(c)), at: base.advanced(by: start))
        }
      }
    }
    tokens.append(Token(kind: .end, offset: chars.count))
  }

  // MARK: Parser

  private var peek: Token { tokens[position] }

  private func location(_ token: Token) -> SourceLocation { base.advanced(by: token.offset) }

  private func unexpected(_ expected: String) -> DiagnosticError {
    let found: String
    switch peek.kind {
    case .end: found = "end of text"
    case .int(let v): found = "'\(v)'"
    case .float(let v): found = "'\(v)'"
    case .string(let s): found = "'\(s)'"
    case .name(let n): found = "'\(n)'"
    case .symbol(let s): found = "'\(s)'"
    }
    return DiagnosticError(.expectedToken(expected: expected, found: found), at: location(peek))
  }

  private mutating func accept(_ symbol: String) -> Bool {
    if peek.kind == .symbol(symbol) || peek.kind == .name(symbol) {
      position += 1
      return true
    }
    return false
  }

  private mutating func expect(_ symbol: String) throws(DiagnosticError) {
    guard accept(symbol) else { throw unexpected("'\(symbol)'") }
  }

  private mutating func parseExpr() throws(DiagnosticError) -> Expr {
    let value = try parseOr()
    guard accept("if") else { return value }
    let condition = try parseOr()
    try expect("else")
    let otherwise = try parseExpr()
    return Expr(.conditional(then: value, condition: condition, otherwise: otherwise), at: value.location)
  }

  private mutating func parseOr() throws(DiagnosticError) -> Expr {
    var lhs = try parseAnd()
    while accept("or") { lhs = Expr(.binary("or", lhs, try parseAnd()), at: lhs.location) }
    return lhs
  }

  private mutating func parseAnd() throws(DiagnosticError) -> Expr {
    var lhs = try parseNot()
    while accept("and") { lhs = Expr(.binary("and", lhs, try parseNot()), at: lhs.location) }
    return lhs
  }

  private mutating func parseNot() throws(DiagnosticError) -> Expr {
    let token = peek
    if accept("not") { return Expr(.unary("not", try parseNot()), at: location(token)) }
    return try parseComparison()
  }

  private mutating func parseComparison() throws(DiagnosticError) -> Expr {
    let lhs = try parseBinary(level: 0)
    for op in ["==", "!=", "<=", ">=", "<", ">"] where accept(op) {
      return Expr(.binary(op, lhs, try parseBinary(level: 0)), at: lhs.location)
    }
    return lhs
  }

  private static let levels: [[String]] = [["+", "-"], ["*", "//", "/", "%"]]

  private mutating func parseBinary(level: Int) throws(DiagnosticError) -> Expr {
    guard level < Self.levels.count else { return try parseUnary() }
    var lhs = try parseBinary(level: level + 1)
    outer: while true {
      for op in Self.levels[level] where accept(op) {
        lhs = Expr(.binary(op, lhs, try parseBinary(level: level + 1)), at: lhs.location)
        continue outer
      }
      return lhs
    }
  }

  private mutating func parseUnary() throws(DiagnosticError) -> Expr {
    let token = peek
    if accept("-") { return Expr(.unary("-", try parseUnary()), at: location(token)) }
    return try parsePostfix()
  }

  private mutating func parsePostfix() throws(DiagnosticError) -> Expr {
    var expr = try parsePrimary()
    while true {
      if accept("(") {
        expr = Expr(.call(expr, try parseArguments()), at: expr.location)
      } else if accept("[") {
        var items: [Expr] = []
        if !accept("]") {
          repeat { items.append(try parseExpr()) } while accept(",")
          try expect("]")
        }
        expr = Expr(.subscript(expr, items), at: expr.location)
      } else {
        return expr
      }
    }
  }

  private mutating func parseArguments() throws(DiagnosticError) -> [Argument] {
    var args: [Argument] = []
    if accept(")") { return args }
    repeat {
      let token = peek
      if case .name(let label) = token.kind, tokens[position + 1].kind == .symbol("=") {
        position += 2
        args.append(Argument(label: label, value: try parseExpr(), at: location(token)))
      } else {
        args.append(Argument(label: nil, value: try parseExpr(), at: location(token)))
      }
    } while accept(",")
    try expect(")")
    return args
  }

  private mutating func parsePrimary() throws(DiagnosticError) -> Expr {
    let token = peek
    let at = location(token)
    switch token.kind {
    case .int(let v): position += 1; return Expr(.int(v), at: at)
    case .float(let v): position += 1; return Expr(.float(v), at: at)
    case .string(let s): position += 1; return Expr(.string(s), at: at)
    case .name("true"), .name("True"): position += 1; return Expr(.bool(true), at: at)
    case .name("false"), .name("False"): position += 1; return Expr(.bool(false), at: at)
    case .name(let n) where !["if", "else", "and", "or", "not"].contains(n):
      position += 1
      return Expr(.name(n), at: at)
    case .symbol("."): position += 1; return Expr(.previous, at: at)
    case .symbol("("):
      position += 1
      var items: [Expr] = [try parseExpr()]
      var isTuple = false
      while accept(",") {
        isTuple = true
        if peek.kind == .symbol(")") { break }
        items.append(try parseExpr())
      }
      try expect(")")
      return isTuple ? Expr(.tuple(items), at: at) : items[0]
    default:
      throw unexpected("a value, name or '('")
    }
  }
}
