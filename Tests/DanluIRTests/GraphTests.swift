import DanluDiagnostics
import DanluIR
import Testing

/// A small graph built by hand: IR tests need no YAML.
func smallGraph() throws -> Graph {
  var g = Graph(name: "small")
  let x = g.addLeaf(.input("x"), type: TensorType(.f32, [.symbol("N"), 3, 8, 8]), name: "x")
  let w = g.addLeaf(.parameter("conv.weight"), type: TensorType(.f32, [4, 3, 3, 3]), name: "conv")
  let b = g.addLeaf(.parameter("conv.bias"), type: TensorType(.f32, [4]), name: "conv",
                    location: SourceLocation(file: "m.yaml", line: 5, column: 5))
  let c = try g.add(.conv2d(Conv2dAttributes(stride: [2, 2], padding: [1, 1])), [x, w], name: "conv",
                    location: SourceLocation(file: "m.yaml", line: 5, column: 5))
  let y = try g.add(.biasAdd(axis: 1), [c, b], name: "conv")
  let r = try g.add(.leakyRelu(slope: 0.2), [y], name: "act")
  let f = try g.reshape(r, to: [.symbol("N"), 64], name: "flatten")
  g.outputs = [GraphOutput(name: "y", value: try g.add(.softmax(axis: 1), [f], name: "softmax"))]
  return g
}

@Suite struct GraphTests {
  @Test func textRoundTrips() throws {
    let graph = try smallGraph()
    let text = IRPrinter.print(graph)
    #expect(try IRParser.parse(text) == graph)
    #expect(text.contains("%3 = conv2d(%0, %1) {dilation=[1,1] groups=1 padding=[1,1] stride=[2,2]} : f32[N,4,4,4]  # conv @ m.yaml:5:5"))
  }

  @Test func parserRejectsForwardReferencesAndUnknownOps() {
    #expect(throws: DiagnosticError.self) {
      try IRParser.parse("graph g {\n  %0 = relu(%1) : f32[1]  # a\n  %1 = input {name=\"x\"} : f32[1]  # x\n}\n")
    }
    #expect(throws: DiagnosticError.self) {
      try IRParser.parse("graph g {\n  %0 = input {name=\"x\"} : f32[1]  # x\n  %1 = frobnicate(%0) : f32[1]  # a\n}\n")
    }
  }

  @Test func verifierCatchesAWrongType() throws {
    var graph = try smallGraph()
    graph.nodes[3].type = TensorType(.f32, [.symbol("N"), 4, 8, 8])
    #expect(Verifier.problems(graph).contains { $0.contains("has type f32[N,4,8,8] but its operands give f32[N,4,4,4]") })
  }

  @Test func shapeErrorsNameTheLayerAndBothShapes() {
    var g = Graph(name: "g")
    let x = g.addLeaf(.input("x"), type: TensorType(.f32, [1, 16, 5, 5]), name: "x")
    let w = g.addLeaf(.parameter("fc.weight"), type: TensorType(.f32, [10, 400]), name: "fc")
    #expect {
      try g.add(.matmul(transposeB: true), [x, w], name: "fc")
    } throws: { error in
      let message = (error as! DiagnosticError).diagnostics[0].message
      return message.contains("layer 'fc'") && message.contains("f32[1,16,5,5]") && message.contains("f32[10,400]")
        && message.contains("the input has 5 features but the weight expects 400")
    }
  }

  @Test func broadcastingFollowsNumPy() throws {
    var g = Graph(name: "g")
    let a = g.addLeaf(.input("a"), type: TensorType(.f32, [2, 3, 4, 4]), name: "a")
    let b = g.addLeaf(.input("b"), type: TensorType(.f32, [2, 3, 1, 1]), name: "b")
    let c = g.addLeaf(.input("c"), type: TensorType(.f32, [5, 4]), name: "c")
    #expect(try g.nodes[g.add(.mul, [a, b], name: "m")].type.shape == [2, 3, 4, 4])
    #expect(throws: DiagnosticError.self) { try g.add(.add, [a, c], name: "bad") }
  }

  @Test func exportsDotAndJSON() throws {
    let graph = try smallGraph()
    let dot = GraphExport.dot(graph)
    #expect(dot.hasPrefix("digraph \"small\" {"))
    #expect(dot.contains("n3 -> n4;"))
    let json = GraphExport.json(graph)
    #expect(json.contains("\"op\": \"conv2d\""))
    #expect(json.contains("\"location\": {\"file\": \"m.yaml\", \"line\": 5, \"column\": 5}"))
  }

  @Test func costCountsParametersAndMACs() throws {
    let (total, _) = Cost.of(try smallGraph(), bindings: ["N": 2])
    #expect(total.parameters == 4 * 27 + 4)
    #expect(total.macs == 2 * 4 * 4 * 4 * 27)
  }
}

@Suite struct PackedPanelsVerifierTests {
  /// Packed panels are a storage order: anything but a transposed matmul's right side reading them is a bug.
  @Test func verifierRejectsOtherReadersOfPackedPanels() throws {
    let text = """
      graph g {
        %0 = param {name="a.weight"} : f32[32,16]  # a
        %1 = pack_panels(%0) : f32[32,16]  # a
        %2 = relu(%1) : f32[32,16]  # r
        output y = %2
      }
      """
    do {
      _ = try IRParser.parse(text)
      Issue.record("the parser's verification let a relu read packed panels")
    } catch {
      #expect("\(error)".contains("reads the packed panels %1 as operand 0"))
    }
  }

  /// The kernels reading packed panels load 16 rows at a time: panels of a weight whose rows are not whole vectors
  /// (here a direct convolution's 6 filters, which run by rows) are a bug.
  @Test func verifierRejectsPanelsOfPartialVectors() throws {
    let text = """
      graph g {
        %0 = input {name="x"} : f32[1,1,28,28]  # x
        %1 = param {name="c.weight"} : f32[6,1,5,5]  # c
        %2 = pack_panels(%1) : f32[6,1,5,5]  # c
        %3 = conv2d(%0, %2) {algorithm="direct" dilation=[1,1] groups=1 padding=[2,2] stride=[1,1]} : f32[1,6,28,28]  # c
        output y = %3
      }
      """
    do {
      _ = try IRParser.parse(text)
      Issue.record("the parser's verification let 6 rows be packed")
    } catch {
      #expect("\(error)".contains("%2 (pack_panels 'c') packs 6 rows, not a multiple of 16"))
    }
  }
}
