import DanluDriver
import DanluIR
import DanluInterpreter
import DanluRuntime
import DanluTestSupport
import Testing

/// The interpreter against ONNX Runtime's outputs for the same weights (Tests/Fixtures/make_goldens.py).
@Suite struct InterpreterGoldenTests {
  @Test(arguments: Repository.goldenCases)
  func matchesONNXRuntime(_ name: String) throws {
    let golden = try GoldenCase(name)
    let expected = golden.expected
    let output = try #require(try Interpreter.run(golden.graph, inputs: golden.inputs, weights: golden.weights.tensors)["output"])
    #expect(output.shape == expected.shape)
    #expect(output.relativeError(to: expected) < 1e-5, "\(name): \(output.relativeError(to: expected))")
  }

  @Test func thereAreGoldensForWholeModelsAndOps() {
    let cases = Set(Repository.goldenCases)
    #expect(cases.isSuperset(of: ["mlp", "lenet5", "residual_block", "conv_groups_dilation", "maxpool_ceil", "gelu"]))
  }

  @Test func missingInputsAndWeightsAreReported() throws {
    let (_, graph) = try Oracle.graph(Repository.path("Models/lenet5.yaml"), BuildOptions(batch: 1))
    #expect(throws: Interpreter.Failure.self) { try Interpreter.run(graph, inputs: [:], weights: [:]) }
  }
}
