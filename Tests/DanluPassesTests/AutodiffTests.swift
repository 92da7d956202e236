import DanluDiagnostics
import DanluDriver
import DanluIR
import DanluInterpreter
import DanluPasses
import DanluRuntime
import DanluTestSupport
import Foundation
import Testing

/// Gradient checks: every VJP rule against central finite differences of the loss through the interpreter, and the
/// generated C of the whole train step (loss and every gradient) against the interpreter.
@Suite struct AutodiffTests {
  /// Small models, one per rule (or a few rules each); `loss` is what the train step minimizes.
  static let cases: [(name: String, input: String, layers: [String], loss: Autodiff.Loss)] = [
    ("linear_relu", "f32[3, 5]", ["fc1: linear(4)", "relu", "fc2: linear(3)"], .crossEntropy(labelSmoothing: 0)),
    ("smoothing_tanh", "f32[4, 6]", ["fc: linear(5)", "tanh", "out: linear(3)"], .crossEntropy(labelSmoothing: 0.1)),
    ("sigmoid_gelu_silu", "f32[2, 4]", ["a: linear(4)", "sigmoid", "b: linear(4)", "gelu", "c: linear(3)", "silu"], .mse),
    ("leaky_linear_3d", "f32[2, 3, 4]", ["l: linear(5)", "leaky_relu(0.1)", "m: linear(2)"], .mse),
    ("conv_pool_flatten", "f32[2, 2, 8, 8]",
     ["c1: conv2d(3, kernel=3, padding=1)", "relu", "maxpool2d(2)", "c2: conv2d(4, kernel=3, stride=2, padding=1)",
      "flatten", "fc: linear(3)"], .crossEntropy(labelSmoothing: 0)),
    ("conv_groups_dilation", "f32[1, 4, 7, 7]",
     ["c: conv2d(4, kernel=3, padding=2, dilation=2, groups=2, bias=false)", "p: conv2d(2, kernel=1)", "tanh"], .mse),
    ("avgpool_adaptive", "f32[2, 3, 6, 6]",
     ["c: conv2d(4, kernel=3, padding=1)", "avgpool2d(3, stride=2, padding=1)", "sigmoid", "adaptive_avgpool2d(1)",
      "flatten", "fc: linear(3)"], .crossEntropy(labelSmoothing: 0)),
    ("residual_mul", "f32[2, 4]", ["a: linear(4)", "b: tanh", "add(., a)", "g: linear(4)", "mul(., b)", "out: linear(3)"], .mse),
    ("softmaxes", "f32[3, 5]", ["a: linear(5)", "s: softmax(dim=1)", "b: linear(4)", "log_softmax(dim=-1)"], .mse),
  ]

  static func build(_ index: Int) throws -> (Graph, Graph, [String: Tensor], [String: Tensor]) {
    let c = cases[index]
    let path = Repository.temporaryFolder().appendingPathComponent("\(c.name).yaml").path
    try ("model: \(c.name)\ninputs:\n  x: \(c.input)\nlayers:\n" + c.layers.map { "  - \($0)\n" }.joined())
      .write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions())
    let train = try Autodiff.trainingGraph(graph, loss: c.loss)
    let seed = UInt64(100 + index)
    let weights = graph.initialWeights(model.initializers, seed: seed)
    var inputs = Oracle.randomInputs(graph, seed: seed)
    let targetShape = train.nodes[train.inputs.first { train.inputName($0) == "target" }!].type.staticShape!
    if case .crossEntropy = c.loss {
      let classes = graph.nodes[graph.outputs[0].value].type.staticShape!.last!
      inputs["target"] = Tensor(shape: targetShape, data: (0..<targetShape[0]).map { Float(($0 * 7 + 1) % classes) })
    } else {
      inputs["target"] = Tensor.random(targetShape, seed: seed + 9)
    }
    return (graph, train, inputs, weights)
  }

  @Test(arguments: cases.indices)
  func gradientsMatchFiniteDifferences(_ index: Int) throws {
    let (_, train, inputs, weights) = try Self.build(index)
    let analytic = try Interpreter.run(train, inputs: inputs, weights: weights)
    func loss(_ w: [String: Tensor]) throws -> Double { Double(try Interpreter.run(train, inputs: inputs, weights: w)["loss"]!.data[0]) }
    // Small enough not to cross relu and max-pool kinks often, large enough for float32 storage of the loss.
    let h: Float = 2e-3
    let base = try loss(weights)
    var checked = 0
    for output in train.outputs where output.name.hasPrefix(Autodiff.gradientPrefix) {
      let name = String(output.name.dropFirst(Autodiff.gradientPrefix.count))
      let gradient = try #require(analytic[output.name])
      #expect(gradient.shape == weights[name]!.shape)
      // Up to 12 elements per parameter, spread over it.
      let count = weights[name]!.count
      var numeric: [Double] = [], exact: [Double] = []
      var sampled = 0
      for element in stride(from: 0, to: count, by: max(1, count / 12)) {
        var plus = weights, minus = weights
        plus[name]!.data[element] += h
        minus[name]!.data[element] -= h
        let (up, down) = (try loss(plus), try loss(minus))
        sampled += 1
        // A step that crosses a relu or max-pool kink has one-sided slopes that disagree: not differentiable there.
        let (left, right) = ((base - down) / Double(h), (up - base) / Double(h))
        if abs(left - right) > 1e-2 * (abs(left) + abs(right)) + 5e-4 { continue }
        numeric.append((up - down) / Double(2 * h))
        exact.append(Double(gradient.data[element]))
      }
      #expect(numeric.count * 2 >= sampled, "\(Self.cases[index].name) \(name): too many kinks to check")
      let difference = zip(numeric, exact).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
      let norm = numeric.reduce(0) { $0 + $1 * $1 }.squareRoot()
      #expect(difference <= 2e-2 * norm + 1e-5, "\(Self.cases[index].name) \(name): analytic \(exact) numeric \(numeric)")
      checked += 1
    }
    #expect(checked == weights.count, "every parameter has a gradient output")
  }

  @Test(arguments: cases.indices)
  func generatedTrainStepMatchesTheInterpreter(_ index: Int) throws {
    let (_, train, inputs, weights) = try Self.build(index)
    let expected = try Interpreter.run(train, inputs: inputs, weights: weights)
    let actual = try Oracle.compiled(train, inputs, WeightSet(weights.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
    for output in train.outputs {
      let (a, e) = (try #require(actual[output.name]), try #require(expected[output.name]))
      #expect(a.relativeError(to: e) < 1e-4, "\(Self.cases[index].name) \(output.name): \(a.relativeError(to: e))")
    }
  }

  @Test func unsupportedOpsNameTheLayer() throws {
    let path = Repository.temporaryFolder().appendingPathComponent("bn.yaml").path
    try "model: bn\ninputs:\n  x: f32[2, 3, 4, 4]\nlayers:\n  - c: conv2d(3, kernel=1)\n  - bn: batchnorm2d\n  - flatten\n  - fc: linear(2)\n"
      .write(toFile: path, atomically: true, encoding: .utf8)
    let (_, graph) = try Oracle.graph(path, BuildOptions())
    #expect {
      try Autodiff.trainingGraph(graph, loss: .crossEntropy(labelSmoothing: 0))
    } throws: { error in
      let text = "\(error)"
      return text.contains("layer 'bn'") && text.contains("batch norm in training mode")
    }
  }
}
