import DanluDriver
import DanluIR
import DanluRuntime
import DanluTestSupport
import Foundation
import Testing

/// A DAG with two inputs and two outputs, by name, through `danlu run` and the standalone binary.
@Suite struct MultipleIOTests {
  static let spec = """
    model: two_heads
    inputs:
      image: f32[N, 2, 6, 6]
      extra: f32[N, 5]
    layers:
      - features: conv2d(3, kernel=3, padding=1)
      - relu
      - flatten
      - joined: concat(., extra, dim=1)
      - scores: linear(4)
      - probabilities: softmax(scores)
      - gate: sigmoid(extra)
    outputs:
      probs: probabilities
      gate: gate
    """

  @Test func namedInputsAndOutputsRoundTrip() throws {
    let folder = Repository.temporaryFolder()
    let path = folder.appendingPathComponent("two_heads.yaml").path
    try Self.spec.write(toFile: path, atomically: true, encoding: .utf8)
    let image = Tensor.random([2, 2, 6, 6], seed: 1), extra = Tensor.random([2, 5], seed: 2)
    let imagePath = folder.appendingPathComponent("image.npy").path, extraPath = folder.appendingPathComponent("extra.npy").path
    try NPY.write(image, to: imagePath)
    try NPY.write(extra, to: extraPath)

    let (model, graph) = try Oracle.graph(path, BuildOptions(batch: 2))
    let expected = try Oracle.interpret(graph, ["image": image, "extra": extra], graph.initialWeights(model.initializers, seed: 0))

    // In-process, inputs given out of order by name; the outputs by name.
    let gatePath = folder.appendingPathComponent("gate.npy").path, probsPath = folder.appendingPathComponent("probs.npy").path
    _ = try Commands.run(path, BuildOptions(batch: 2), weights: nil, inputs: ["extra=" + extraPath, "image=" + imagePath],
                         outputs: ["gate=" + gatePath, "probs=" + probsPath])
    #expect(try NPY.read(gatePath).relativeError(to: expected["gate"]!) < 1e-5)
    #expect(try NPY.read(probsPath).relativeError(to: expected["probs"]!) < 1e-5)

    // The binary: bare files fill inputs in order; a bare --output writes the first output.
    let binary = folder.appendingPathComponent("two").path
    _ = try Commands.compile(path, BuildOptions(batch: 2), output: binary, weights: nil)
    let first = folder.appendingPathComponent("first.npy").path
    let result = try execute(binary, ["--input", imagePath, "--input", extraPath, "--output", first, "--output", "gate=" + gatePath])
    #expect(result.status == 0, "\(result.err)")
    #expect(try NPY.read(first).relativeError(to: expected["probs"]!) < 1e-5)
    #expect(try NPY.read(gatePath).relativeError(to: expected["gate"]!) < 1e-5)
    let missing = try execute(binary, ["--input", imagePath])
    #expect(missing.status == 1 && missing.err.contains("missing --input for 'extra'"))
  }
}
