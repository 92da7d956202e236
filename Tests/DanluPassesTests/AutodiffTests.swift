import CDanluRuntime
import DanluCodegen
import DanluDiagnostics
import DanluDriver
import DanluIR
import DanluInterpreter
import DanluPasses
import DanluRuntime
import DanluTestSupport
import Foundation
import Testing

/// Gradient checks: every VJP rule against central finite differences of the loss in float64 through the interpreter, and the
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
    ("dropout_nll", "f32[6, 5]", ["a: linear(8)", "relu", "dropout(0.3)", "b: linear(4)", "dropout(0.5)", "log_softmax(dim=1)"], .nll),
    ("batchnorm_l1", "f32[3, 2, 4, 4]", ["c: conv2d(3, kernel=3, padding=1)", "bn: batchnorm2d(momentum=0.2)", "tanh",
                                         "flatten", "fc: linear(2)"], .l1),
    ("bce_losses", "f32[4, 3]", ["a: linear(4)", "tanh", "b: linear(2)", "sigmoid"], .bce),
    ("bce_logits_kl", "f32[4, 3]", ["a: linear(4)", "gelu", "b: linear(3)"], .bceWithLogits),
    ("kl_divergence", "f32[3, 4]", ["a: linear(5)", "silu", "b: linear(4)", "log_softmax(dim=1)"], .klDivergence),
    ("broadcast_concat", "f32[2, 2, 4, 4]", ["c: conv2d(3, kernel=3, padding=1)", "s: adaptive_avgpool2d(1)", "m: mul(c, s)",
                                             "a: add(m, s)", "j: concat(a, c, dim=1)", "tanh", "flatten", "fc: linear(3)"],
     .crossEntropy(labelSmoothing: 0)),
    ("embedding", "f32[3, 4]", ["e: embedding(7, 5)", "ln: layer_norm", "flatten", "fc: linear(3)"], .crossEntropy(labelSmoothing: 0)),
    ("narrow", "f32[2, 5, 3]", ["a: linear(4)", "tanh", "narrow(1, -2, 2)", "flatten", "fc: linear(3)"], .crossEntropy(labelSmoothing: 0)),
    ("lstm_sequence", "f32[3, 2, 3]", ["l: lstm(4, num_layers=2, bidirectional=true)", "narrow(0, -1, 1)", "flatten", "fc: linear(3)"],
     .crossEntropy(labelSmoothing: 0)),
    ("lstm_final_cell", "f32[3, 2, 3]", ["l: lstm(4, bidirectional=true)", "c: l[2]", "tanh"], .mse),
    ("gru_batch_first", "f32[2, 4, 3]", ["g: gru(4, batch_first=true, num_layers=2)", "narrow(1, -1, 1)", "flatten", "fc: linear(3)"], .mse),
    ("rnn_relu_final", "f32[4, 2, 3]", ["r: rnn(5, nonlinearity='relu', bidirectional=true)", "h: r[1]", "tanh"], .mse),
    ("rnn_tanh_stacked", "f32[4, 2, 3]", ["r: rnn(3, num_layers=2)", "tanh"], .mse),
    ("layer_norm", "f32[2, 3, 6]", ["a: linear(6)", "ln: layer_norm", "gelu", "b: linear(4)",
                                    "ln2: layer_norm(eps=1e-3, elementwise_affine=false)"], .mse),
    ("attention_causal", "f32[2, 4, 6]", ["a: multi_head_attention(6, 2, batch_first=true, causal=true)", "ln: layer_norm",
                                          "flatten", "fc: linear(3)"], .crossEntropy(labelSmoothing: 0)),
    ("attention_cross_padding", "f32[3, 2, 4]\n  mask: f32[2, 3]",
     ["m: linear(4)(x)", "tanh", "k: linear(4)", "p: positional_encoding", "a: multi_head_attention(4, 2, key_padding_mask=true)(x, p, m, mask)"], .mse),
    ("encoder_layer_pre_ln", "f32[2, 3, 8]",
     ["p: positional_encoding(kind='learned', max_len=4, batch_first=true)",
      "e: transformer_encoder_layer(8, 2, dim_feedforward=8, dropout=0, batch_first=true, norm_first=true, activation='gelu')"], .mse),
    ("decoder_layer", "f32[2, 3, 4]\n  memory: f32[2, 5, 4]",
     ["d: transformer_decoder_layer(4, 2, dim_feedforward=6, dropout=0, batch_first=true, causal=true)(x, memory)",
      "flatten", "fc: linear(3)"], .crossEntropy(labelSmoothing: 0)),
    // seq2seq_attention.yaml's shape with features for tokens: a GRU encoder, a GRU decoder from its final state,
    // the decoder states attending over the encoder states.
    ("seq2seq_attention", "f32[2, 4, 3]\n  tgt: f32[2, 3, 3]",
     ["enc: gru(5, batch_first=true)(x)", "dec: gru(5, batch_first=true)(tgt, enc[1])",
      "att: multi_head_attention(5, 1, batch_first=true)(dec, enc)", "concat(dec, att, dim=2)", "c: linear(4)", "tanh",
      "flatten", "out: linear(3)"], .crossEntropy(labelSmoothing: 0)),
  ]

  static func build(_ index: Int) throws -> (Graph, Graph, [String: Tensor], [String: Tensor]) {
    let c = cases[index]
    let path = Repository.temporaryFolder().appendingPathComponent("\(c.name).yaml").path
    try ("model: \(c.name)\ninputs:\n  x: \(c.input)\nlayers:\n" + c.layers.map { "  - \($0)\n" }.joined())
      .write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions())
    let train = try Autodiff.trainingGraph(graph, loss: c.loss, batchNormMomentum: model.batchNormMomentum)
    let seed = UInt64(100 + index)
    let weights = graph.initialWeights(model.initializers, seed: seed)
    var inputs = Oracle.randomInputs(graph, seed: seed)
    if c.name == "embedding" {
      // Token indices, one of them repeated so that two rows of dy add into one row of the table's gradient.
      inputs["x"] = Tensor(shape: [3, 4], data: (0..<12).map { Float(($0 * 5 + 2) % 7) })
      inputs["x"]!.data[11] = inputs["x"]!.data[0]
    }
    if c.name == "attention_cross_padding" {
      // The second sequence's last key hidden; the first sequence sees all three.
      inputs["mask"] = Tensor(shape: [2, 3], data: [0, 0, 0, 0, 0, 1])
    }
    let targetShape = train.nodes[train.inputs.first { train.inputName($0) == "target" }!].type.staticShape!
    let classes = graph.nodes[graph.outputs[0].value].type.staticShape!.last!
    switch c.loss {
    case .crossEntropy, .nll:
      inputs["target"] = Tensor(shape: targetShape, data: (0..<targetShape[0]).map { Float(($0 * 7 + 1) % classes) })
    case .bce, .bceWithLogits:
      inputs["target"] = Tensor(shape: targetShape, data: Tensor.random(targetShape, seed: seed + 9).data.map { abs($0).truncatingRemainder(dividingBy: 1) })
    case .klDivergence:
      // Rows of probabilities, one of them zero.
      var p = Tensor.random(targetShape, seed: seed + 9).data.map { abs($0) + 0.05 }
      p[0] = 0
      for row in 0..<targetShape[0] {
        let total = p[(row * classes)..<((row + 1) * classes)].reduce(0, +)
        for k in 0..<classes { p[row * classes + k] /= total }
      }
      inputs["target"] = Tensor(shape: targetShape, data: p)
    default:
      inputs["target"] = Tensor.random(targetShape, seed: seed + 9)
    }
    if train.inputs.contains(where: { train.inputName($0) == Autodiff.seedInput }) {
      inputs[Autodiff.seedInput] = Tensor(shape: [3], data: DropoutHash.seedInput(seed: seed, step: 3))
    }
    return (graph, train, inputs, weights)
  }

  /// Central differences in float64 through the interpreter, against the train graph's gradients also run in float64.
  @Test(arguments: cases.indices)
  func gradientsMatchFiniteDifferences(_ index: Int) throws {
    let (_, train, floatInputs, floatWeights) = try Self.build(index)
    let inputs = floatInputs.mapValues(Values<Double>.init), weights = floatWeights.mapValues(Values<Double>.init)
    let analytic = try Interpreter.runInFloat64(train, inputs: inputs, weights: weights)
    func loss(_ w: [String: Values<Double>]) throws -> Double { try Interpreter.runInFloat64(train, inputs: inputs, weights: w)["loss"]!.data[0] }
    let h = 1e-6
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
        let (left, right) = ((base - down) / h, (up - base) / h)
        if abs(left - right) > 1e-4 * (abs(left) + abs(right)) + 1e-7 { continue }
        numeric.append((up - down) / (2 * h))
        exact.append(gradient.data[element])
      }
      #expect(numeric.count * 2 >= sampled, "\(Self.cases[index].name) \(name): too many kinks to check")
      let difference = zip(numeric, exact).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
      let norm = numeric.reduce(0) { $0 + $1 * $1 }.squareRoot()
      #expect(difference <= 1e-6 * norm + 1e-9, "\(Self.cases[index].name) \(name): analytic \(exact) numeric \(numeric)")
      checked += 1
    }
    let trainable = train.nodes.filter { if case .parameter = $0.op { true } else { false } }.count
    #expect(checked == trainable, "every parameter has a gradient output")
  }

  @Test(arguments: cases.indices)
  func generatedTrainStepMatchesTheInterpreter(_ index: Int) throws {
    let (_, train, inputs, weights) = try Self.build(index)
    let expected = try Interpreter.run(train, inputs: inputs, weights: weights)
    let actual = try Oracle.compiled(train, inputs, WeightSet(weights.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
    for output in train.outputs {
      let (a, e) = (try #require(actual[output.name]), try #require(expected[output.name]))
      // A conv bias before batch norm has a zero gradient in exact arithmetic: judged against a floor, not zero.
      let difference = zip(a.data, e.data).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
      let norm = e.data.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
      #expect(difference <= 1e-4 * max(norm, 1e-2), "\(Self.cases[index].name) \(output.name): \(a.relativeError(to: e))")
    }
  }

  @Test func unsupportedShapesNameTheLayer() throws {
    let path = Repository.temporaryFolder().appendingPathComponent("pool.yaml").path
    try "model: pool\ninputs:\n  x: f32[2, 3, 4, 4]\nlayers:\n  - c: conv2d(3, kernel=1)\n  - p: adaptive_avgpool2d(3)\n  - flatten\n  - fc: linear(2)\n"
      .write(toFile: path, atomically: true, encoding: .utf8)
    let (_, graph) = try Oracle.graph(path, BuildOptions())
    #expect {
      try Autodiff.trainingGraph(graph, loss: .crossEntropy(labelSmoothing: 0))
    } throws: { error in
      let text = "\(error)"
      return text.contains("layer 'p'") && text.contains("only output sizes that divide the input evenly")
    }
    // PyTorch refuses batch norm in training on one value per channel; so does Danlu, naming the layer.
    let single = Repository.temporaryFolder().appendingPathComponent("bn1.yaml").path
    try "model: bn1\ninputs:\n  x: f32[1, 3]\nlayers:\n  - reshape(1, 3, 1, 1)\n  - bn: batchnorm2d\n  - flatten\n  - fc: linear(2)\n"
      .write(toFile: single, atomically: true, encoding: .utf8)
    let (_, bnGraph) = try Oracle.graph(single, BuildOptions())
    #expect {
      try Autodiff.trainingGraph(bnGraph, loss: .crossEntropy(labelSmoothing: 0))
    } throws: { "\($0)".contains("layer 'bn'") && "\($0)".contains("more than one value per channel") }
  }

  /// Dropout masks: the kept fraction is 1 − p, kept values are scaled by 1/(1 − p), another step draws another mask,
  /// and the interpreter and generated C draw the same one.
  @Test func dropoutMasksAreSeededAndScaled() throws {
    let p: Float = 0.3
    let first = DropoutHash.mask(seed: DropoutHash.seedInput(seed: 7, step: 0), salt: 0, p: p, count: 20_000)
    let kept = first.filter { $0 != 0 }
    #expect(abs(Double(kept.count) / 20_000 - 0.7) < 0.02)
    #expect(kept.allSatisfy { $0 == 1 / (1 - p) })
    let next = DropoutHash.mask(seed: DropoutHash.seedInput(seed: 7, step: 1), salt: 0, p: p, count: 20_000)
    let otherLayer = DropoutHash.mask(seed: DropoutHash.seedInput(seed: 7, step: 0), salt: 1, p: p, count: 20_000)
    #expect(first != next && first != otherLayer)
    #expect(first == DropoutHash.mask(seed: DropoutHash.seedInput(seed: 7, step: 0), salt: 0, p: p, count: 20_000))
    // A late step, past 2²⁴: the seed input keeps it exact.
    let late = DropoutHash.seedInput(seed: 7, step: (1 << 24) + 5)
    #expect(late[1] == 1 && late[2] == 5)
  }
}

/// The optimizer update generated into the train step (gradients read in the arena) against the C runtime's update
/// from gradients copied out, for each optimizer, with clipping and a batch-norm running statistic.
@Suite struct GeneratedUpdateTests {
  static let optimizers: [(String, TrainStep.Optimizer)] = {
    var sgd = TrainStep.Optimizer(kind: DANLU_SGD, lr: 0.1)
    (sgd.momentum, sgd.nesterov, sgd.weightDecay) = (0.9, true, 0.01)
    var adam = TrainStep.Optimizer(kind: DANLU_ADAM, lr: 0.01)
    adam.weightDecay = 0.001
    var adamw = TrainStep.Optimizer(kind: DANLU_ADAMW, lr: 0.01)
    (adamw.weightDecay, adamw.clipNorm) = (0.01, 0.05)
    return [("sgd", sgd), ("adam", adam), ("adamw_clipped", adamw)]
  }()

  @Test(arguments: optimizers.indices)
  func matchesTheRuntimeUpdate(_ index: Int) throws {
    let path = Repository.temporaryFolder().appendingPathComponent("u.yaml").path
    try "model: u\ninputs:\n  x: f32[4, 2, 4, 4]\nlayers:\n  - c: conv2d(3, kernel=3, padding=1)\n  - bn: batchnorm2d\n  - relu\n  - flatten\n  - fc: linear(5)\n"
      .write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions())
    let train = Pipeline.optimize(try Autodiff.trainingGraph(graph, loss: .crossEntropy(labelSmoothing: 0)), passes: try Pipeline.passes(nil))
    let source = CEmitter.emit(train, source: "test")
    #expect(source.contains("static void apply_update("))
    let weights = graph.initialWeights(model.initializers, seed: 4)
    let x = Tensor.random([4, 2, 4, 4], seed: 5)
    let result = try Commands.inProcess(source, "u") { (compiled) throws(DiagnosticError) in
      var finals: [[String: Tensor]] = []
      for generated in [true, false] {
        let step = try TrainStep(compiled, weights: weights, optimizer: Self.optimizers[index].1, generatedUpdate: generated)
        step.setInput("x") { buffer in for i in buffer.indices { buffer[i] = x.data[i] } }
        step.setInput("target") { buffer in for i in buffer.indices { buffer[i] = Float(i % 5) } }
        for _ in 0..<3 { _ = step.step() }
        finals.append(step.weights)
      }
      return finals
    }
    let (generated, runtime) = (result[0], result[1])
    #expect(generated.keys.sorted() == runtime.keys.sorted())
    for (name, tensor) in runtime {
      #expect(generated[name]!.relativeError(to: tensor) < 1e-5, "\(Self.optimizers[index].0) \(name): \(generated[name]!.relativeError(to: tensor))")
    }
    #expect(generated["bn.running_mean"]! != weights["bn.running_mean"]!, "running statistics are updated")
    #expect(generated["fc.weight"]! != weights["fc.weight"]!)
  }
}
