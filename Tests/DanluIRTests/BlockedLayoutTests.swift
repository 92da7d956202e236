import DanluDiagnostics
import DanluIR
import Testing

/// `Layout.nchw8c` in the text IR and the verifier's layout rules (`Graph.layoutProblems`).
@Suite struct BlockedLayoutTests {
  /// x → two direct convolutions by filters (packed, 32 filters each) → relu, all NCHW.
  func graph() throws -> Graph {
    try IRParser.parse("""
      graph g {
        %0 = input {name="x"} : f32[1,16,8,8]  # x
        %1 = param {name="a.weight"} : f32[32,16,3,3]  # a
        %2 = pack_panels(%1) : f32[32,16,3,3]  # a
        %3 = conv2d(%0, %2) {algorithm="direct" dilation=[1,1] groups=1 padding=[1,1] stride=[1,1]} : f32[1,32,8,8]  # a
        %4 = param {name="b.weight"} : f32[32,32,3,3]  # b
        %5 = pack_panels(%4) : f32[32,32,3,3]  # b
        %6 = conv2d(%3, %5) {algorithm="direct" dilation=[1,1] groups=1 padding=[1,1] stride=[1,1]} : f32[1,32,8,8]  # b
        %7 = relu(%6) : f32[1,32,8,8]  # relu
        output y = %7
      }

      """)
  }

  @Test func layoutsRoundTripThroughTheText() throws {
    var blocked = try graph()
    blocked.nodes[3].type.layout = .nchw8c
    #expect(Verifier.problems(blocked).isEmpty)
    let text = IRPrinter.print(blocked)
    #expect(text.contains("stride=[1,1]} : f32[1,32,8,8]{nchw8c}  # a"))
    #expect(try IRParser.parse(text) == blocked)
    #expect(throws: DiagnosticError.self) {
      try IRParser.parse("graph g {\n  %0 = input {name=\"x\"} : f32[1,8,2,2]{nhwc}  # x\n}\n")
    }
  }

  @Test func verifierHoldsReadersAndWritersToTheRules() throws {
    // A relu reads NCHW only.
    var relu = try graph()
    relu.nodes[6].type.layout = .nchw8c
    #expect(Verifier.problems(relu) == ["%7 (relu 'relu') cannot read %6 (f32[1,32,8,8]{nchw8c}) as operand 0"])
    // What the graph returns is NCHW.
    var output = try graph()
    output.nodes[6].type.layout = .nchw8c
    output.outputs = [GraphOutput(name: "y", value: 6)]
    #expect(Verifier.problems(output).last == "output 'y' is f32[1,32,8,8]{nchw8c}, not NCHW")
    // Only a direct convolution by filters writes blocked.
    var writer = try graph()
    writer.nodes[7].type.layout = .nchw8c
    writer.outputs = []
    #expect(Verifier.problems(writer) == ["%7 (relu 'relu') cannot write f32[1,32,8,8]{nchw8c}"])
  }
}
