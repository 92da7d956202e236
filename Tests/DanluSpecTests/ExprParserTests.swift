import DanluDiagnostics
import DanluSpec
import Testing

@Suite struct ExprParserTests {
  let base = SourceLocation(file: "f.yaml", line: 3, column: 10)

  @Test(arguments: [
    "conv2d(6, kernel=5, padding=2)", "relu", "maxpool2d(3, stride=2, padding=1)", "conv2d(planes * 4, kernel=1)",
    "Downsample(planes, stride)(input) if down else input", "add(., input)", "f32[N, 3, H // 2 + 1, W]",
    "conv2d(4, kernel=(3, 1))", "linear(10, bias=false)", "leaky_relu(-0.5)", "repeat(2, BasicBlock(64))",
  ])
  func parsesAndPrintsBack(_ text: String) throws {
    let expr = try ExprParser.parse(text, at: base)
    let again = try ExprParser.parse(expr.description, at: base)
    #expect(again.description == expr.description)
  }

  @Test func argumentsCarryTheirColumns() throws {
    let expr = try ExprParser.parse("conv2d(6, kernel=5)", at: base)
    guard case .call(_, let args) = expr.kind else { Issue.record("not a call"); return }
    #expect(args[1].label == "kernel")
    #expect(args[1].location.column == base.column + 10)
  }

  @Test func precedenceFollowsPython() throws {
    let expr = try ExprParser.parse("a + b * c", at: base)
    guard case .binary("+", _, let rhs) = expr.kind, case .binary("*", _, _) = rhs.kind else {
      Issue.record("wrong tree: \(expr)")
      return
    }
  }

  @Test(arguments: ["conv2d(6,", "conv2d(6 kernel=5)", "relu)", "a $ b", "'open", "x if y"])
  func rejectsMalformedExpressions(_ text: String) {
    #expect(throws: DiagnosticError.self) { try ExprParser.parse(text, at: base) }
  }
}
