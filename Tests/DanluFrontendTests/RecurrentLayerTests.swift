import DanluDriver
import DanluIR
import DanluTestSupport
import Foundation
import Testing

/// `rnn` / `lstm` / `gru` lower to one `recurrent` node per layer and direction, named like PyTorch's state_dict.
@Suite struct RecurrentLayerTests {
  @Test func parameterNamesAreTorchs() throws {
    let path = Repository.temporaryFolder().appendingPathComponent("r.yaml").path
    try "model: r\ninputs:\n  x: f32[T, N, 3]\nlayers:\n  - lstm: lstm(4, num_layers=2, bidirectional=true)\noutputs:\n  out: lstm[0]\n  h: lstm[1]\n  c: lstm[2]\n"
      .write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions(bindings: ["T": 5, "N": 2]))
    var expected: Set<String> = []
    for layer in 0..<2 {
      for suffix in ["", "_reverse"] {
        for name in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] { expected.insert("lstm.\(name)_l\(layer)\(suffix)") }
      }
    }
    #expect(Set(model.initializers.keys) == expected)
    let weights = graph.initialWeights(model.initializers, seed: 1)
    #expect(weights["lstm.weight_ih_l1"]?.shape == [16, 8] && weights["lstm.weight_hh_l0_reverse"]?.shape == [16, 4])
    #expect(graph.outputs.map { graph.nodes[$0.value].type.staticShape! } == [[5, 2, 8], [4, 2, 4], [4, 2, 4]])
    #expect(graph.nodes.filter { if case .recurrent = $0.op { true } else { false } }.count == 4)
  }

  /// Zeros given as h0 and c0 are what the layer assumes without them.
  @Test func explicitZeroStatesMatchTheDefault() throws {
    let folder = Repository.temporaryFolder()
    let with = folder.appendingPathComponent("with.yaml").path, without = folder.appendingPathComponent("without.yaml").path
    try "model: w\ninputs:\n  x: f32[4, 2, 3]\n  h0: f32[1, 2, 5]\n  c0: f32[1, 2, 5]\nlayers:\n  - l: lstm(5)(x, h0, c0)\n"
      .write(toFile: with, atomically: true, encoding: .utf8)
    try "model: w\ninputs:\n  x: f32[4, 2, 3]\nlayers:\n  - l: lstm(5)\n".write(toFile: without, atomically: true, encoding: .utf8)
    let (model, a) = try Oracle.graph(with, BuildOptions())
    let (_, b) = try Oracle.graph(without, BuildOptions())
    let weights = a.initialWeights(model.initializers, seed: 2)
    let x = Tensor.random([4, 2, 3], seed: 3)
    let zeros = Tensor(zeros: [1, 2, 5])
    let first = try Oracle.interpret(a, ["x": x, "h0": zeros, "c0": zeros], weights).values.first!
    let second = try Oracle.interpret(b, ["x": x], weights).values.first!
    #expect(first == second)
    let started = try Oracle.interpret(a, ["x": x, "h0": Tensor.random([1, 2, 5], seed: 4), "c0": zeros], weights).values.first!
    #expect(started != second, "h0 changes the output")
  }
}
