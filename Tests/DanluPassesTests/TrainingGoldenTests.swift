import DanluDriver
import DanluIR
import DanluInterpreter
import DanluPasses
import DanluRuntime
import DanluTestSupport
import Foundation
import Testing

/// Losses, gradients and batch-norm running statistics against JAX in float64 for the same weights and batch
/// (Tests/Fixtures/make_training_goldens.py): through the interpreter and through the generated train step.
@Suite struct TrainingGoldenTests {
  static let cases: [String] = {
    let folder = Repository.path("Tests/Fixtures/training_goldens")
    return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
  }()

  static func load(_ name: String) throws -> (train: Graph, inputs: [String: Tensor], weights: [String: Tensor], expected: [String: Tensor]) {
    let folder = Repository.path("Tests/Fixtures/training_goldens/\(name)")
    let (model, graph) = try Oracle.graph(folder + "/model.yaml", BuildOptions())
    let config = try TrainConfig(model.train)
    let train = try Autodiff.trainingGraph(graph, loss: config.loss, batchNormMomentum: model.batchNormMomentum)
    let inputs = ["x": try NPY.read(folder + "/x.npy"), "target": try NPY.read(folder + "/target.npy")]
    return (train, inputs, try WeightSet(contentsOf: folder + "/weights.safetensors").tensors,
            try WeightSet(contentsOf: folder + "/expected.safetensors").tensors)
  }

  @Test func everyLossHasAGolden() {
    #expect(Set(Self.cases).isSuperset(of: ["nll", "l1", "bce", "bce_with_logits", "kl_divergence", "cross_entropy_smoothing",
                                            "mse_conv_pool", "batchnorm_train", "layer_norm", "broadcast_concat", "embedding", "lstm_train", "gru_train"]))
  }

  @Test(arguments: cases)
  func interpreterMatchesJAX(_ name: String) throws {
    let (train, inputs, weights, expected) = try Self.load(name)
    let actual = try Interpreter.run(train, inputs: inputs, weights: weights)
    try Self.compare(actual, expected, name)
  }

  @Test(arguments: cases)
  func generatedTrainStepMatchesJAX(_ name: String) throws {
    let (train, inputs, weights, expected) = try Self.load(name)
    let actual = try Oracle.compiled(train, inputs, WeightSet(weights.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
    try Self.compare(actual, expected, name)
  }

  static func compare(_ actual: [String: Tensor], _ expected: [String: Tensor], _ name: String) throws {
    #expect(expected.keys.contains("loss"))
    for (key, want) in expected {
      let got = try #require(actual[key], "\(name): no output \(key)")
      #expect(got.shape == want.shape, "\(name) \(key)")
      // A conv bias before batch norm has a zero gradient in exact arithmetic: rounding noise there is judged against
      // a floor instead of against zero.
      let difference = zip(got.data, want.data).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
      let norm = want.data.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
      #expect(difference <= 1e-4 * max(norm, 1e-2), "\(name) \(key): \(got.data.prefix(4)) against \(want.data.prefix(4))")
    }
  }
}
