import CDanluRuntime
import DanluDiagnostics
import DanluDriver
import DanluRuntime
import DanluSpec
import DanluTestSupport
import Foundation
import Testing

/// The `train:` section, the optimizers against PyTorch's update rules, and the train / resume / eval loop.
@Suite struct TrainTests {
  static let hasFashionMNIST = FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")

  static func config(_ yaml: String) throws -> TrainConfig {
    let root = try YAMLReader.read(yaml, file: "m.yaml")
    return try TrainConfig(root.mapping?.first { $0.key.scalar == "train" }?.value)
  }

  @Test func readsTheTrainSection() throws {
    let c = try Self.config("""
      train:
        loss: cross_entropy(label_smoothing=0.1)
        optimizer: sgd(lr=0.1, momentum=0.9, nesterov=true, weight_decay=5e-4)
        schedule: step(step_size=2, gamma=0.5)
        warmup: 10
        clip_grad_norm: 1.5
        normalize: (0.286, 0.353)
        batch: 32
        epochs: 3
      """)
    #expect(c.loss == .crossEntropy(labelSmoothing: 0.1))
    for name in ["nll", "mse", "l1", "bce", "bce_with_logits", "kl_divergence"] {
      #expect(try Self.config("train:\n  loss: \(name)\n").loss.name == name)
    }
    let files = try Self.config("train:\n  data: npy(train=(\"a.npy\", \"b.npy\"), test=(\"c.npy\", \"d.npy\"))\n  init: body.safetensors\n")
    let metrics = try Self.config("train:\n  metrics: (accuracy, top_k(k=3), loss)\n")
    #expect(metrics.metrics == [.accuracy, .topK(3), .loss])
    #expect(try Self.config("train:\n  loss: mse\n  metrics: (mae, rmse)\n").metrics == [.mae, .rmse])
    #expect(files.data == .files(format: "npy", train: ["a.npy", "b.npy"], test: ["c.npy", "d.npy"]) && files.initFrom == "body.safetensors")
    #expect(c.optimizer.kind == DANLU_SGD && c.optimizer.lr == 0.1 && c.optimizer.momentum == 0.9 && c.optimizer.nesterov)
    #expect(c.optimizer.weightDecay == 5e-4 && c.optimizer.clipNorm == 1.5)
    #expect(c.schedule == .step(size: 2, gamma: 0.5) && c.warmupSteps == 10 && c.batch == 32 && c.epochs == 3)
    #expect(c.normalize?.mean == 0.286 && c.normalize?.std == 0.353)
    // Warm-up ramps to lr over 10 steps, then the step schedule halves it every 2 epochs.
    #expect(c.learningRate(epoch: 0, step: 4, stepsPerEpoch: 100) == 0.05)
    #expect(c.learningRate(epoch: 1, step: 0, stepsPerEpoch: 100) == 0.1)
    #expect(c.learningRate(epoch: 2, step: 0, stepsPerEpoch: 100) == 0.05)
    let cosine = try Self.config("train:\n  optimizer: adamw(lr=1.0, betas=(0.8, 0.9))\n  schedule: cosine\n  epochs: 2\n")
    #expect(cosine.optimizer.kind == DANLU_ADAMW && cosine.optimizer.beta1 == 0.8 && cosine.optimizer.weightDecay == 0.01)
    #expect(abs(cosine.learningRate(epoch: 1, step: 0, stepsPerEpoch: 10) - 0.5) < 1e-6)
    #expect(abs(cosine.learningRate(epoch: 1, step: 9, stepsPerEpoch: 10) - 0.0062) < 1e-3)
  }

  @Test func mistakesInTheTrainSectionAreLocated() throws {
    for (yaml, expected, line, column) in [
      ("train:\n  optimizer: adma(lr=1e-3)\n", "unknown optimizer 'adma'; did you mean 'adam'?", 2, 14),
      ("train:\n  optimizer: adam\n", "adam needs a learning rate", 2, 14),
      ("train:\n  loss: cross_entropy(smoothing=0.1)\n", "cross_entropy takes named arguments label_smoothing", 2, 23),
      ("train:\n  epoch: 5\n", "unknown key 'train.epoch'; did you mean 'epochs'?", 2, 3),
      ("train:\n  batch: 0\n", "train.batch must be an integer ≥ 1", 2, 10),
      ("train:\n  loss: hinge\n", "unknown loss 'hinge'", 2, 9),
      ("train:\n  data: npy(train=(\"a.npy\"))\n", "'train' is missing or not a pair", 2, 20),
      ("train:\n  data: mnist\n", "train.data must be fashion-mnist, npy(", 2, 9),
      ("train:\n  metrics: (accuracy, acuracy)\n", "unknown metric 'acuracy'; did you mean 'accuracy'?", 2, 23),
      ("train:\n  loss: mse\n  metrics: accuracy\n", "the metric accuracy needs class-index targets, but mse trains on values", 3, 12),
    ] {
      #expect {
        try Self.config(yaml)
      } throws: { error in
        guard let error = error as? DiagnosticError, let d = error.diagnostics.first else { return false }
        return d.message.contains(expected) && d.location.line == line && d.location.column == column
      }
    }
  }

  /// PyTorch's update rules written out independently (torch.optim docs), three steps on fixed gradients.
  @Test(arguments: [DANLU_SGD, DANLU_ADAM, DANLU_ADAMW])
  func optimizerMatchesPyTorchsRule(_ kind: danlu_optimizer_kind) {
    var settings = danlu_optimizer(kind: kind, lr: 0.1, weight_decay: 0.05, momentum: 0.9, nesterov: 1, beta1: 0.9,
                                   beta2: 0.99, eps: 1e-8)
    var param: [Float] = [0.5, -1.0, 2.0], m = [Float](repeating: 0, count: 3), v = m
    var p = param.map(Double.init), mm = [Double](repeating: 0, count: 3), vv = mm
    let grads: [[Float]] = [[0.1, -0.2, 0.3], [0.05, 0.4, -0.1], [-0.3, 0.2, 0.2]]
    for (t, g) in grads.enumerated() {
      danlu_optimizer_step(&settings, &param, g, &m, &v, 3, Int64(t + 1), 0.5)
      for i in 0..<3 {
        var grad = Double(g[i]) * 0.5
        switch kind {
        case DANLU_SGD:
          grad += 0.05 * p[i]
          mm[i] = t == 0 ? grad : 0.9 * mm[i] + grad
          p[i] -= 0.1 * (grad + 0.9 * mm[i])
        default:
          if kind == DANLU_ADAMW { p[i] *= 1 - 0.1 * 0.05 } else { grad += 0.05 * p[i] }
          mm[i] = 0.9 * mm[i] + 0.1 * grad
          vv[i] = 0.99 * vv[i] + 0.01 * grad * grad
          let mHat = mm[i] / (1 - pow(0.9, Double(t + 1))), vHat = vv[i] / (1 - pow(0.99, Double(t + 1)))
          p[i] -= 0.1 * mHat / (vHat.squareRoot() + 1e-8)
        }
      }
    }
    for i in 0..<3 { #expect(abs(Double(param[i]) - p[i]) < 1e-5, "\(kind) element \(i): \(param[i]) vs \(p[i])") }
  }

  /// A short run learns, its checkpoint loads for eval, and resuming after epoch 1 ends exactly where an
  /// uninterrupted two-epoch run ends.
  @Test(.enabled(if: hasFashionMNIST, "needs the dataset-fashion-mnist package"))
  func trainsResumesExactlyAndEvaluates() throws {
    let folder = Repository.temporaryFolder()
    // The half run below stands for an interrupted one by training for one epoch; a cosine schedule spans the
    // run's epochs, so here the rate is constant (a real resume passes the same --epochs as the run it continues).
    let model = folder.appendingPathComponent("lenet5.yaml").path
    try String(contentsOfFile: Repository.path("Models/lenet5.yaml"), encoding: .utf8)
      .split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains("schedule:") }.joined(separator: "\n")
      .write(toFile: model, atomically: true, encoding: .utf8)
    var options = TrainOptions()
    options.stepsPerEpoch = 40
    options.epochs = 2
    options.out = folder.appendingPathComponent("straight.safetensors").path
    var lines: [String] = []
    let straight = try Commands.train(model, options, log: { lines.append($0) }, progress: { _ in })
    #expect(lines.count == 3 && lines[0].hasPrefix("train step memory: arena=") && lines[0].contains(" optimizer=")
      && lines[1].hasPrefix("epoch 1/2: train_loss=") && lines[2].contains("checkpoint:"))
    let accuracy = try #require(Double(straight.split(separator: " ")[0].dropFirst("accuracy=".count)))
    #expect(accuracy > 0.5, "80 Adam steps of LeNet-5 should pass 50% on Fashion-MNIST, got \(accuracy)")

    // The bit-for-bit comparison runs `danlu train` in processes of its own: OpenBLAS's thread count is global to a
    // process and its sgemm rounds differently on one thread and two (Debian's 0.3.21, measured), and the tests
    // running compiled kernels beside this one in the test process change that count (`set_threads`, each
    // region's single-threaded OpenBLAS calls), which made an in-process resume differ in one CI run of four.
    let danlu = try #require(Repository.danluExecutable, "the danlu executable (swift build) beside the tests")
    func train(_ out: String, epochs: Int, resume: String? = nil) throws -> (last: String, output: String) {
      let path = folder.appendingPathComponent(out).path
      let flags = ["train", model, "--epochs", "\(epochs)", "--steps-per-epoch", "40", "--out", path]
      let run = try execute(danlu, flags + (resume.map { ["--resume", $0] } ?? []))
      #expect(run.status == 0, "danlu train: \(run.err)")
      // The last line of standard output, newline included, as Commands.train returns it; the log on either stream.
      return ((run.out.split(separator: "\n").last.map(String.init) ?? "") + "\n", run.out + run.err)
    }
    let whole = try train("whole.safetensors", epochs: 2)
    #expect(whole.last == straight, "the command line's run ends as the in-process one: \(whole.last) vs \(straight)")
    let half = folder.appendingPathComponent("half.safetensors").path
    _ = try train("half.safetensors", epochs: 1)
    let resumed = try train("half.safetensors", epochs: 2, resume: half)
    let epochs = resumed.output.split(separator: "\n").filter { $0.hasPrefix("epoch ") && $0.contains(": train_loss=") }
    #expect(resumed.output.contains("resumed") && epochs.count == 1, "one epoch after the resumed one: \(epochs)")
    #expect(resumed.last == whole.last)
    let a = try WeightSet(contentsOf: folder.appendingPathComponent("whole.safetensors").path).tensors
    let b = try WeightSet(contentsOf: half).tensors
    #expect(a == b, "weights, optimizer state and step count must match bit for bit")
    #expect(a["trainer.epoch"]?.data == [2] && a["optimizer.v.conv1.weight"] != nil)

    let evaluated = try Commands.eval(model, weights: half, BuildOptions(), batch: 100)
    #expect(evaluated.hasSuffix(resumed.last), "eval's last line equals train's: \(evaluated) vs \(resumed.last)")
  }

  @Test func benchTrainPrintsTheScriptLine() throws {
    let report = try Commands.benchTrain(Repository.path("Models/mlp.yaml"), BuildOptions(batch: 8), runs: 3)
    #expect(report.contains("train step: batch 8"))
    // Adam keeps two tensors of state per parameter: m and v.
    let memory = try #require(report.split(separator: "\n").first { $0.hasPrefix("train step memory:") })
    let fields = Dictionary(uniqueKeysWithValues: memory.split(separator: " ").compactMap { field -> (String, Int)? in
      let parts = field.split(separator: "=")
      return parts.count == 2 ? (String(parts[0]), Int(parts[1])!) : nil
    })
    #expect(fields["optimizer"] == 2 * fields["weights"]! && fields["arena"]! > 0)
    #expect(report.split(separator: "\n").last?.hasPrefix("bench: median_ms=") == true)
  }

  /// ResNet-18 (batch norm in training mode, residual adds, strided 1×1 downsampling) takes a full train step.
  @Test func resnetTrainsWithBatchNorm() throws {
    let report = try Commands.benchTrain(Repository.path("Models/resnet18.yaml"), BuildOptions(batch: 2, bindings: ["H": 32, "W": 32]), runs: 1)
    #expect(report.split(separator: "\n").last?.hasPrefix("bench: median_ms=") == true)
  }

  @Test func modelsThatCannotTrainSayWhy() throws {
    let path = Repository.temporaryFolder().appendingPathComponent("cat.yaml").path
    try "model: cat\ninputs:\n  x: f32[N, 1, 28, 28]\nlayers:\n  - c: conv2d(2, kernel=3)\n  - p: adaptive_avgpool2d(5)\n  - flatten\n  - fc: linear(10)\n"
      .write(toFile: path, atomically: true, encoding: .utf8)
    #expect {
      try Commands.benchTrain(path, BuildOptions(batch: 2), runs: 1)
    } throws: { error in
      let text = (error as? DriverFailure)?.rendered ?? ""
      return text.contains("p': cannot train through adaptive_avg_pool2d: only output sizes that divide the input evenly")
        && text.contains("cat.yaml:6:")
    }
  }
}
