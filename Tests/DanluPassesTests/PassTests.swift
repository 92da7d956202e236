import DanluDriver
import DanluIR
import DanluInterpreter
import DanluPasses
import DanluTestSupport
import Foundation
import Testing

/// Every pass has an `Inputs/<pass-name>.ir` file: cases split by `// -----`, each a graph and CHECK lines.
@Suite struct PassTests {
  @Test(arguments: PassRegistry.all.map(\.name))
  func passMatchesItsCheckLines(_ name: String) throws {
    let path = Repository.path("Tests/DanluPassesTests/Inputs/\(name).ir")
    let text = try #require(try? String(contentsOfFile: path, encoding: .utf8), "every pass needs \(path)")
    let pass = try #require(PassRegistry.named(name))
    for (index, testCase) in FileCheck.cases(text).enumerated() {
      let graph = try IRParser.parse(testCase, file: "\(name).ir")
      let result = pass.run(graph)
      #expect(Verifier.problems(result).isEmpty)
      #expect(try IRParser.parse(IRPrinter.print(result)) == result, "the text IR must round-trip after \(name)")
      let failures = FileCheck.check(IRPrinter.print(result), against: testCase)
      #expect(failures.isEmpty, "case \(index) of \(name).ir:\n\(failures.joined(separator: "\n"))\n\(IRPrinter.print(result))")
    }
  }

  /// The interpreter gives the same outputs before and after each pass on each of its cases (static shapes), with
  /// random weights, batch-norm variances made positive.
  @Test(arguments: PassRegistry.all.map(\.name))
  func passPreservesResults(_ name: String) throws {
    let text = try String(contentsOfFile: Repository.path("Tests/DanluPassesTests/Inputs/\(name).ir"), encoding: .utf8)
    let pass = try #require(PassRegistry.named(name))
    for (index, testCase) in FileCheck.cases(text).enumerated() {
      let graph = try IRParser.parse(testCase, file: "\(name).ir")
      guard graph.freeSymbols.isEmpty else { continue }
      var weights: [String: Tensor] = [:]
      var inputs: [String: Tensor] = [:]
      for (i, value) in graph.nodes.indices.enumerated() {
        guard let shape = graph.nodes[value].type.staticShape else { continue }
        var tensor = Tensor.random(shape, seed: 7 + UInt64(i))
        if let key = graph.parameterName(value) {
          if key.hasSuffix("running_var") { tensor.data = tensor.data.map { abs($0) + 0.5 } }
          weights[key] = tensor
        } else if let key = graph.inputName(value) {
          inputs[key] = tensor
        }
      }
      let before = try Interpreter.run(graph, inputs: inputs, weights: weights)
      let after = try Interpreter.run(pass.run(graph), inputs: inputs, weights: weights)
      for (output, expected) in before {
        let error = try #require(after[output]).relativeError(to: expected)
        #expect(error < 1e-5, "case \(index) of \(name).ir, output \(output): relative error \(error)")
      }
    }
  }

  @Test func fileCheckReportsMisses() {
    #expect(!FileCheck.check("a\nb\n", against: "// CHECK: c").isEmpty)
    #expect(!FileCheck.check("a\nx\nb\n", against: "// CHECK: a\n// CHECK-NEXT: b").isEmpty)
    #expect(!FileCheck.check("a\nx\nb\n", against: "// CHECK: a\n// CHECK-NOT: x\n// CHECK: b").isEmpty)
    #expect(FileCheck.check("a\nx\nb\n", against: "// CHECK: a\n// CHECK-NEXT: x\n// CHECK: b").isEmpty)
  }

  @Test func timePassesReportsEveryPass() throws {
    let graph = try IRParser.parse(FileCheck.cases(try String(contentsOfFile: Repository.path("Tests/DanluPassesTests/Inputs/cse.ir"), encoding: .utf8))[0])
    let (_, _, times) = PassManager(PassRegistry.inference).timedRun(graph)
    #expect(times.map(\.pass) == PassRegistry.inference.map(\.name))
    let report = PassManager.timingReport(times)
    #expect(report.hasPrefix("pass "))
    #expect(report.contains("canonicalize-reshapes "))
    #expect(report.split(separator: "\n").last?.hasPrefix("total") == true)
  }

  @Test func managerRecordsTheIRAfterEachPass() throws {
    let graph = try IRParser.parse(FileCheck.cases(try String(contentsOfFile: Repository.path("Tests/DanluPassesTests/Inputs/dce.ir"), encoding: .utf8))[0])
    let (_, dumps) = PassManager(PassRegistry.inference).run(graph, printAfterAll: true)
    #expect(dumps.map(\.pass) == PassRegistry.inference.map(\.name))
  }
}

/// `pack-weights` rules that need products too large for the interpreter in `PassTests`, and its verifier rule.
@Suite struct PackWeightsTests {
  /// Rows that are not whole vectors, an untransposed weight, a weight that is a graph input: no packing.
  @Test func packsOnlyTransposedParametersOfWholeVectors() throws {
    let graph = try IRParser.parse("""
      graph g {
        %0 = input {name="x"} : f32[64,512]  # x
        %1 = param {name="b.weight"} : f32[1000,512]  # b
        %2 = matmul(%0, %1) {transpose_b=true} : f32[64,1000]  # odd_rows
        %3 = param {name="d.weight"} : f32[512,1024]  # d
        %4 = matmul(%0, %3) {transpose_b=false} : f32[64,1024]  # untransposed
        %5 = input {name="w"} : f32[1024,512]  # w
        %6 = matmul(%0, %5) {transpose_b=true} : f32[64,1024]  # input_weight
        output b = %2
        output d = %4
        output e = %6
      }
      """)
    #expect(packWeights.run(graph) == graph)
  }

  /// A convolution's filters are packed for one image of ≥ 32M multiply-adds whose im2col stays under 1M floats or
  /// whose filter is deep (≥ 1024); not at batch 2, not for a larger im2col of a shallow filter (ResNet-18's stem) or
  /// a grouped convolution. A Winograd convolution has them transformed (16 floats a filter in storage), at batch 2
  /// too, unless they are too large for `WinogradBlocks` (16·O·I over 1M floats).
  @Test func packsConvolutionsOfOneImage() throws {
    func graph(batch: Int, channels: Int, size: Int, groups: Int = 1, winograd: Bool = false) throws -> Graph {
      let out = size / 2
      return try IRParser.parse("""
        graph g {
          %0 = input {name="x"} : f32[\(batch),\(channels),\(size),\(size)]  # x
          %1 = param {name="c.weight"} : f32[128,\(channels / groups),3,3]  # c
          %2 = conv2d(%0, %1) {\(winograd ? "algorithm=\"winograd\" " : "")dilation=[1,1] groups=\(groups) padding=[1,1] stride=[2,2]} : f32[\(batch),128,\(out),\(out)]  # c
          output y = %2
        }
        """)
    }
    func packed(_ g: Graph) -> Bool { packWeights.run(g).nodes.contains { $0.op == .packPanels } }
    let winograd = packWeights.run(try graph(batch: 1, channels: 64, size: 56, winograd: true))
    let pack = try #require(winograd.nodes.indices.first { winograd.nodes[$0].op == .packPanels })
    #expect(winograd.storedFloats(pack) == 16 * 128 * 64 && winograd.nodes[pack].type.staticShape == [128, 64, 3, 3])
    #expect(packed(try graph(batch: 1, channels: 64, size: 56)))  // 57.8M multiply-adds, im2col 576 × 784
    #expect(!packed(try graph(batch: 2, channels: 64, size: 56)))
    #expect(!packed(try graph(batch: 1, channels: 16, size: 224)))  // im2col 144 × 12544
    #expect(packed(try graph(batch: 1, channels: 128, size: 128)))  // im2col 1152 × 4096, but a deep filter
    #expect(!packed(try graph(batch: 1, channels: 64, size: 56, groups: 2)))
    #expect(packed(try graph(batch: 2, channels: 64, size: 56, winograd: true)))
    #expect(!packed(try graph(batch: 1, channels: 1024, size: 56, winograd: true)))
  }

  /// A train step's weights change every step: its graph is left as it is.
  @Test func leavesTrainingGraphsAlone() throws {
    let path = Repository.temporaryFolder().appendingPathComponent("wide.yaml").path
    try "model: wide\ninputs:\n  x: f32[64, 512]\nlayers:\n  - linear(1024)\n  - linear(10)\n"
      .write(toFile: path, atomically: true, encoding: .utf8)
    let graph = try Oracle.graph(path, BuildOptions()).1
    #expect(packWeights.run(graph).nodes.contains { $0.op == .packPanels })
    let train = try Autodiff.trainingGraph(graph, loss: .crossEntropy(labelSmoothing: 0))
    #expect(packWeights.run(train) == train)
  }
}
