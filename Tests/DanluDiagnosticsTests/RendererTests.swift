import DanluDiagnostics
import Testing

@Suite struct RendererTests {
  @Test func rendersLocationSourceLineAndCaret() {
    let source = "layers:\n  - conv1: conv2d(6, kernal=5)\n"
    let diagnostic = Diagnostic(.unknownArgument(layer: "conv1", op: "conv2d", argument: "kernal", suggestion: "kernel"),
                                at: SourceLocation(file: "m.yaml", line: 2, column: 23))
    let rendered = DiagnosticRenderer(sources: ["m.yaml": source]).render(diagnostic)
    #expect(rendered == """
      m.yaml:2:23: error: layer 'conv1': conv2d has no argument 'kernal'; did you mean 'kernel'?
        - conv1: conv2d(6, kernal=5)
                            ^
      """)
  }

  @Test func unknownLocationsRenderWithoutAFileName() {
    let rendered = DiagnosticRenderer().render(Diagnostic(.unboundDim(["T"]), at: .unknown))
    #expect(rendered.hasPrefix("error: symbolic dimension T must be bound"))
  }

  @Test func suggestionsPickTheClosestNameWithinReach() {
    #expect(closestMatch(to: "kernal", in: ["kernel", "stride", "padding"]) == "kernel")
    #expect(closestMatch(to: "conv2", in: ["conv2d", "linear"]) == "conv2d")
    #expect(closestMatch(to: "banana", in: ["conv2d", "linear"]) == nil)
    #expect(editDistance("maxpool2d", "max_pool2d") == 1)
  }

  @Test func catalogIdsAreUniqueAndStable() {
    let messages: [DiagnosticMessage] = [
      .unknownOp("x", suggestion: nil), .unknownArgument(layer: "l", op: "o", argument: "a", suggestion: nil),
      .shapeMismatch(layer: "l", op: "o", shapes: [], detail: ""), .undefinedName("x", suggestion: nil),
      .duplicateName("x"), .blockRecursion("B"), .blockArity(block: "B", detail: ""), .yamlSyntax(""),
      .weightsMismatch(""), .badTensorFile(path: "", problem: ""),
    ]
    #expect(Set(messages.map(\.id)).count == messages.count)
    #expect(DiagnosticMessage.unknownOp("x", suggestion: nil).id == "unknown-op")
  }
}
