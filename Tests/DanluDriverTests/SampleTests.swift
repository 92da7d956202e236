import DanluDriver
import DanluIR
import DanluRuntime
import DanluTestSupport
import Foundation
import Testing

/// `danlu sample`'s cached decoding against the whole model recomputed through the interpreter.
@Suite struct SampleTests {
  static func languageModel(positions: String) -> String {
    """
    model: tiny_lm
    inputs:
      x: f32[N, S]
    dims: {S: 6}
    layers:
      - embed: embedding(11, 8)
      - pos: positional_encoding(\(positions), batch_first=true)
      - layers: repeat(2, transformer_encoder_layer(8, 2, dim_feedforward=12, dropout=0, batch_first=true, norm_first=true, causal=true))
      - norm: layer_norm
      - head: linear(11)
    outputs:
      logits: .
    """
  }

  /// Every position's logits from the one-position model with its key/value cache equal the whole model's at that
  /// position; past the context (6), the cache restarts from the last 3 tokens and matches the whole model on the
  /// window it then holds.
  @Test(arguments: ["kind='learned', max_len=8", "kind='sinusoidal'"])
  func cachedDecodingMatchesTheWholeModel(_ positions: String) throws {
    let folder = Repository.temporaryFolder()
    let path = folder.appendingPathComponent("tiny_lm.yaml").path
    try Self.languageModel(positions: positions).write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions(batch: 1))
    let weights = graph.initialWeights(model.initializers, seed: 7)
    let weightsPath = folder.appendingPathComponent("w.safetensors").path
    try WeightSet(weights.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }).write(to: weightsPath)

    let tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5]
    let decoded = try Commands.decodedLogits(path, BuildOptions(), weights: weightsPath, tokens: tokens)
    func whole(_ window: [Int]) throws -> Tensor {
      try #require(try Oracle.interpret(graph, ["x": Tensor(shape: [1, 6], data: window.map(Float.init))], weights)["logits"])
    }
    // The first six: one run of the whole model.
    let first = try whole(Array(tokens[0..<6]))
    for position in 0..<6 {
      let expected = Tensor(shape: [11], data: Array(first.data[(position * 11)..<((position + 1) * 11)]))
      #expect(Tensor(shape: [11], data: decoded[position]).relativeError(to: expected) < 1e-5, "position \(position)")
    }
    // The seventh token finds the cache full: it holds tokens 3…5 again, then 6, 7, 8 follow.
    let window = try whole(Array(tokens[3..<9]))
    for (step, position) in [(6, 3), (7, 4), (8, 5)] {
      let expected = Tensor(shape: [11], data: Array(window.data[(position * 11)..<((position + 1) * 11)]))
      #expect(Tensor(shape: [11], data: decoded[step]).relativeError(to: expected) < 1e-5, "step \(step)")
    }
  }

  @Test func aModelWithoutCausalAttentionIsRefused() throws {
    let path = Repository.temporaryFolder().appendingPathComponent("bidirectional.yaml").path
    try Self.languageModel(positions: "kind='sinusoidal'").replacingOccurrences(of: "causal=true", with: "causal=false")
      .write(toFile: path, atomically: true, encoding: .utf8)
    let failure = #expect(throws: DriverFailure.self) {
      try Commands.sample(path, BuildOptions(), weights: nil, SampleOptions(prompt: "ab", length: 3))
    }
    #expect(failure?.rendered.contains("needs causal, batch-first self-attention") == true, "\(failure?.rendered ?? "")")
    #expect(failure?.rendered.contains("bidirectional.yaml:") == true)
  }

  /// Out-of-range sampling options are refused before anything is compiled, each named with the value given.
  @Test(arguments: [(SampleOptions(prompt: "ab", length: -1), "--length must not be negative, got -1"),
                    (SampleOptions(prompt: "ab", length: 3, temperature: -0.5),
                     "--temperature must not be negative, got -0.5"),
                    (SampleOptions(prompt: "ab", length: 3, topK: 0), "--top-k must be at least 1, got 0")])
  func badSamplingOptionsAreNamed(_ options: SampleOptions, _ message: String) throws {
    let path = Repository.temporaryFolder().appendingPathComponent("options_lm.yaml").path
    try Self.languageModel(positions: "kind='sinusoidal'").write(toFile: path, atomically: true, encoding: .utf8)
    let failure = #expect(throws: DriverFailure.self) {
      try Commands.sample(path, BuildOptions(), weights: nil, options)
    }
    #expect(failure?.rendered.contains(message) == true, "\(failure?.rendered ?? "")")
  }

  @Test func greedySamplingIsDeterministicAndSeedsMatter() throws {
    let path = Repository.temporaryFolder().appendingPathComponent("tiny_lm.yaml").path
    try Self.languageModel(positions: "kind='sinusoidal'").replacingOccurrences(of: "embedding(11", with: "embedding(256")
      .replacingOccurrences(of: "linear(11)", with: "linear(256)").write(toFile: path, atomically: true, encoding: .utf8)
    let greedy = { (seed: UInt64) in try Commands.sample(path, BuildOptions(), weights: nil, SampleOptions(prompt: "ab", length: 12, temperature: 0, seed: seed)) }
    #expect(try greedy(1) == greedy(2))
    let drawn = { (seed: UInt64) in try Commands.sample(path, BuildOptions(), weights: nil, SampleOptions(prompt: "ab", length: 40, temperature: 1.5, seed: seed)) }
    #expect(try drawn(1) != drawn(2))
    #expect(try drawn(3) == drawn(3))
    #expect(try drawn(1).utf8.count >= 2 + 1)
  }
}
