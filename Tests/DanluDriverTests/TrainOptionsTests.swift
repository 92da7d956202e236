import DanluDiagnostics
import DanluDriver
import DanluIR
import DanluRuntime
import DanluTestSupport
import Foundation
import Testing

/// Training beyond Fashion-MNIST and cross-entropy: `.npy` data, other losses, batch norm and dropout in training
/// mode, `trainable=false` and starting from part of a checkpoint (transfer learning).
@Suite struct TrainOptionsTests {
  /// 96 training and 32 test points in 4-D whose class (of 3) is the largest of three fixed linear scores.
  static func writeData(_ folder: URL, regression: Bool = false) throws {
    for (split, count, seed) in [("train", 96, UInt64(1)), ("test", 32, UInt64(2))] {
      let x = Tensor.random([count, 4], seed: seed)
      var scores: [[Float]] = []
      for r in 0..<count {
        var row: [Float] = []
        for k in 0..<3 {
          var total: Float = 0
          for i in 0..<4 { total += x.data[r * 4 + i] * Float((k * 4 + i) % 5 - 2) }
          row.append(total)
        }
        scores.append(row)
      }
      let y = regression ? Tensor(shape: [count, 3], data: scores.flatMap { $0 })
        : Tensor(shape: [count], data: scores.map { Float($0.firstIndex(of: $0.max()!)!) })
      try NPY.write(x, to: folder.appendingPathComponent("\(split)_x.npy").path)
      try NPY.write(y, to: folder.appendingPathComponent("\(split)_y.npy").path)
    }
  }

  static func spec(_ folder: URL, _ name: String, layers: [String], train: [String]) throws -> String {
    let path = folder.appendingPathComponent("\(name).yaml").path
    try ("model: \(name)\ninputs:\n  x: f32[N, 4]\nlayers:\n" + layers.map { "  - \($0)\n" }.joined()
      + "train:\n  data: npy(train=(\"train_x.npy\", \"train_y.npy\"), test=(\"test_x.npy\", \"test_y.npy\"))\n"
      + train.map { "  \($0)\n" }.joined()).write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  static func options(_ folder: URL, _ out: String, epochs: Int) -> TrainOptions {
    var options = TrainOptions()
    options.epochs = epochs
    options.out = folder.appendingPathComponent(out).path
    return options
  }

  @Test func finetunesANewHeadOnAFrozenBody() throws {
    let folder = Repository.temporaryFolder()
    try Self.writeData(folder)
    let base = try Self.spec(folder, "base", layers: ["body: linear(16)", "relu", "head: linear(3)"],
                             train: ["optimizer: adam(lr=0.01)", "batch: 16"])
    _ = try Commands.train(base, Self.options(folder, "base.safetensors", epochs: 3), log: { _ in }, progress: { _ in })
    let trained = try WeightSet(contentsOf: folder.appendingPathComponent("base.safetensors").path).tensors

    let tuned = try Self.spec(folder, "tuned", layers: ["body: linear(16, trainable=false)", "relu", "new_head: linear(3)"],
                              train: ["optimizer: adam(lr=0.01)", "batch: 16", "init: base.safetensors",
                                      "metrics: (accuracy, top_k(k=3), loss)"])
    var lines: [String] = []
    let result = try Commands.train(tuned, Self.options(folder, "tuned.safetensors", epochs: 3), log: { lines.append($0) }, progress: { _ in })
    #expect(lines.contains { $0.hasPrefix("init: 2 of 4 tensors from") && $0.contains("fresh: new_head.bias, new_head.weight")
      && $0.contains("not in the model: head.bias, head.weight") }, "\(lines)")
    #expect(lines.contains("frozen (trainable=false): 2 parameters"))
    let after = try WeightSet(contentsOf: folder.appendingPathComponent("tuned.safetensors").path).tensors
    #expect(after["body.weight"] == trained["body.weight"] && after["body.bias"] == trained["body.bias"], "the body stays bit for bit")
    #expect(after["optimizer.m.body.weight"] == nil && after["optimizer.m.new_head.weight"] != nil)
    let accuracy = try #require(Double(result.split(separator: " ")[0].dropFirst("accuracy=".count)))
    #expect(accuracy > 0.6, "a new head on the trained body: \(result)")
    // top-3 of 3 classes is every example; top-1 is the accuracy.
    let evaluated = try Commands.eval(tuned, weights: folder.appendingPathComponent("tuned.safetensors").path, BuildOptions(), batch: 10)
    #expect(evaluated.hasSuffix(result), "\(evaluated)")
    #expect(evaluated.contains("top3_accuracy=1.0000"), "\(evaluated)")

    // A matching name with another shape is an error that names both.
    let clash = try Self.spec(folder, "clash", layers: ["body: linear(8)", "relu", "head: linear(3)"],
                              train: ["init: base.safetensors"])
    #expect {
      try Commands.train(clash, Self.options(folder, "clash.safetensors", epochs: 1), log: { _ in }, progress: { _ in })
    } throws: { error in
      let text = (error as? DriverFailure)?.rendered ?? ""
      return text.contains("'body.bias' has shape [16], the model expects [8]")
    }
  }

  @Test func regressionWithMSEReportsTheLossOnly() throws {
    let folder = Repository.temporaryFolder()
    try Self.writeData(folder, regression: true)
    let path = try Self.spec(folder, "regress", layers: ["a: linear(16)", "tanh", "b: linear(3)"],
                             train: ["loss: mse", "optimizer: adam(lr=0.01)", "batch: 16", "metrics: (loss, mae, rmse)"])
    var lines: [String] = []
    let result = try Commands.train(path, Self.options(folder, "r.safetensors", epochs: 8), log: { lines.append($0) }, progress: { _ in })
    #expect(result.hasPrefix("loss=") && !result.contains("accuracy"), "\(result)")
    let losses = lines.compactMap { line in line.split(separator: " ").first { $0.hasPrefix("test_loss=") }.flatMap { Double($0.dropFirst(10)) } }
    #expect(losses.count == 8 && losses.last! < losses.first! * 0.7, "\(losses)")
    #expect(lines.last { $0.hasPrefix("epoch") }?.contains(" test_mae=") == true && lines.last!.contains(" test_rmse="))
  }

  @Test func batchNormAndDropoutTrainAndResumeExactly() throws {
    let folder = Repository.temporaryFolder()
    try Self.writeData(folder)
    let layers = ["a: linear(16)", "reshape(N, 4, 2, 2)", "bn: batchnorm2d(momentum=0.2)", "relu", "flatten", "dropout(0.25)",
                  "b: linear(3)"]
    let path = try Self.spec(folder, "bn", layers: layers, train: ["optimizer: adam(lr=0.01)", "batch: 16", "seed: 3"])
    let straight = try Commands.train(path, Self.options(folder, "straight.safetensors", epochs: 2), log: { _ in }, progress: { _ in })
    _ = try Commands.train(path, Self.options(folder, "half.safetensors", epochs: 1), log: { _ in }, progress: { _ in })
    var options = Self.options(folder, "half.safetensors", epochs: 2)
    options.resume = options.out
    let resumed = try Commands.train(path, options, log: { _ in }, progress: { _ in })
    #expect(resumed == straight)
    let a = try WeightSet(contentsOf: folder.appendingPathComponent("straight.safetensors").path).tensors
    let b = try WeightSet(contentsOf: folder.appendingPathComponent("half.safetensors").path).tensors
    #expect(a == b, "dropout masks depend on (seed, step) only, so a resumed run matches bit for bit")
    // The running statistics moved from their initial 0 and 1.
    #expect(a["bn.running_mean"]!.data.contains { $0 != 0 } && a["bn.running_var"]!.data.contains { $0 != 1 })
  }

  @Test func dataAndTargetMistakesAreExplained() throws {
    let folder = Repository.temporaryFolder()
    try Self.writeData(folder)
    let tooFewClasses = try Self.spec(folder, "two", layers: ["a: linear(2)"], train: ["batch: 16"])
    #expect {
      try Commands.train(tooFewClasses, Self.options(folder, "t.safetensors", epochs: 1), log: { _ in }, progress: { _ in })
    } throws: { ((($0 as? DriverFailure)?.rendered) ?? "").contains("class indices [count] below 2") }
    let tooBig = try Self.spec(folder, "big", layers: ["a: linear(3)"], train: ["batch: 128"])
    #expect {
      try Commands.train(tooBig, Self.options(folder, "t.safetensors", epochs: 1), log: { _ in }, progress: { _ in })
    } throws: { ((($0 as? DriverFailure)?.rendered) ?? "").contains("the training split has 96 examples, fewer than one batch of 128") }
    let wrongTarget = try Self.spec(folder, "mse", layers: ["a: linear(3)"], train: ["loss: mse", "batch: 16"])
    #expect {
      try Commands.train(wrongTarget, Self.options(folder, "t.safetensors", epochs: 1), log: { _ in }, progress: { _ in })
    } throws: { ((($0 as? DriverFailure)?.rendered) ?? "").contains("mse compares the prediction [16, 3] with targets of the same shape") }
  }
}

/// An LSTM trained end to end through time on a synthetic task: recall the first element of a sequence after seven
/// more, a task that needs the cell's memory. The test loss must fall near zero.
@Suite struct SequenceTrainingTests {
  @Test func lstmLearnsToRecallTheFirstElement() throws {
    let folder = Repository.temporaryFolder()
    for (split, count, seed) in [("train", 512, UInt64(11)), ("test", 128, UInt64(12))] {
      let x = Tensor.random([count, 8, 1], seed: seed)
      try NPY.write(x, to: folder.appendingPathComponent("\(split)_x.npy").path)
      try NPY.write(Tensor(shape: [count, 1], data: (0..<count).map { x.data[$0 * 8] }), to: folder.appendingPathComponent("\(split)_y.npy").path)
    }
    let path = folder.appendingPathComponent("recall.yaml").path
    try """
      model: recall
      inputs:
        x: f32[N, 8, 1]
      layers:
        - lstm: lstm(16, batch_first=true)
        - narrow(1, -1, 1)
        - flatten
        - fc: linear(1)
      train:
        data: npy(train=("train_x.npy", "train_y.npy"), test=("test_x.npy", "test_y.npy"))
        loss: mse
        optimizer: adam(lr=0.01)
        batch: 32
        epochs: 40

      """.write(toFile: path, atomically: true, encoding: .utf8)
    var options = TrainOptions()
    options.out = folder.appendingPathComponent("recall.safetensors").path
    var lines: [String] = []
    let result = try Commands.train(path, options, log: { lines.append($0) }, progress: { _ in })
    let loss = try #require(Double(result.dropFirst("loss=".count).trimmingCharacters(in: .whitespacesAndNewlines)))
    // The targets are uniform in [-1, 1): predicting their mean would leave a loss of 1/3.
    #expect(loss < 0.01, "test loss after 40 epochs: \(result)\n\(lines.suffix(3).joined(separator: "\n"))")
  }

  /// A small causal Transformer language model on `text(…)` data: scores [N, S, 256] against next bytes [N, S]. On a
  /// repeated sentence every byte but a window's first few is predictable from the ones before it.
  @Test func transformerLanguageModelLearnsARepeatedSentence() throws {
    let folder = Repository.temporaryFolder()
    // 87 bytes, prime to the window of 16: windows start at every offset into the sentence, in both splits.
    let sentence = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.. "
    try String(repeating: sentence, count: 60).write(to: folder.appendingPathComponent("corpus.txt"), atomically: true, encoding: .utf8)
    let path = folder.appendingPathComponent("lm.yaml").path
    try """
      model: lm
      inputs:
        x: f32[N, S]
      dims: {S: 16}
      layers:
        - embed: embedding(256, 32)
        - pos: positional_encoding(kind='learned', max_len=16, batch_first=true)
        - layers: repeat(2, transformer_encoder_layer(32, 2, dim_feedforward=64, dropout=0, batch_first=true, norm_first=true, causal=true))
        - norm: layer_norm
        - head: linear(256)
      train:
        data: text(files="corpus.txt", context=16, test_fraction=0.2)
        loss: cross_entropy
        optimizer: adam(lr=3e-3)
        batch: 16
        epochs: 12

      """.write(toFile: path, atomically: true, encoding: .utf8)
    var options = TrainOptions()
    options.out = folder.appendingPathComponent("lm.safetensors").path
    var lines: [String] = []
    let result = try Commands.train(path, options, log: { lines.append($0) }, progress: { _ in })
    let fields = Dictionary(uniqueKeysWithValues: result.split(separator: " ").compactMap { field -> (String, Double)? in
      let parts = field.split(separator: "=")
      guard parts.count == 2, let value = Double(parts[1].trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
      return (String(parts[0]), value)
    })
    // Guessing uniformly among 256 bytes is a loss of 5.5; the sentence's own letter frequencies, about 2.9.
    let (accuracy, loss) = (try #require(fields["accuracy"]), try #require(fields["loss"]))
    #expect(accuracy > 0.8 && loss < 0.8, "after 12 epochs: \(result)\n\(lines.suffix(3).joined(separator: "\n"))")
  }
}
