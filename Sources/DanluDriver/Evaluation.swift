import DanluDiagnostics
import DanluInterpreter
import DanluIR
import DanluRuntime

/// What `danlu train` reports after each epoch and `danlu eval` prints: the spec's `train.metrics` on the test split.
public struct Evaluation: Sendable {
  /// The fraction of correct top-1 predictions, for class-index targets.
  public var accuracy: Double?
  /// The training loss (cross-entropy without label smoothing for cross_entropy), per example.
  public var loss = 0.0
  /// Every metric the spec asks for, in its order.
  public var values: [(name: String, value: Double)] = []

  /// `accuracy=F loss=L` (`loss=L` without class indices): the last line of `danlu train` and `danlu eval`.
  public var summaryLine: String {
    (accuracy.map { "accuracy=" + String(format: "%.4f", $0) + " " } ?? "") + "loss=" + String(format: "%.4f", loss) + "\n"
  }
}

/// A metric of `train.metrics`.
public enum Metric: Hashable, Sendable {
  case accuracy
  /// The label among the k highest scores (`top_k(k=5)`).
  case topK(Int)
  case loss
  /// Mean absolute and root-mean-square error, for value targets.
  case mae
  case rmse

  public var name: String {
    switch self {
    case .accuracy: return "accuracy"
    case .topK(let k): return "top\(k)_accuracy"
    case .loss: return "loss"
    case .mae: return "mae"
    case .rmse: return "rmse"
    }
  }

  public static let names = ["accuracy", "top_k", "loss", "mae", "rmse"]

  /// Metrics that compare scores with class indices, and those that compare values.
  var needsClassIndices: Bool? {
    switch self {
    case .accuracy, .topK: return true
    case .mae, .rmse: return false
    case .loss: return nil
    }
  }
}

extension Commands {
  /// The metrics of the first output on a data set, in batches of the compiled size; the last batch is padded and
  /// its padding ignored.
  static func evaluate(_ compiled: CompiledModel, _ weights: WeightSet, _ data: Dataset, batch: Int, _ config: TrainConfig)
    throws(DiagnosticError) -> Evaluation
  {
    let lossKind = config.loss
    let metrics = config.metrics ?? (lossKind.targetsAreClassIndices ? [.accuracy, .loss] : [.loss])
    let ks = metrics.map { if case .topK(let k) = $0 { k } else { 1 } }
    var correct = Array(repeating: 0, count: (ks.max() ?? 1) + 1)  // correct[k]: label among the k best
    var loss = 0.0, absolute = 0.0, squares = 0.0
    var labels = 0  // class labels seen: one per sample, or one per position of a sequence
    let inputName = compiled.inputNames[0]
    var session: Session?
    // Label smoothing shapes training only; the reported loss is the plain cross-entropy, as PyTorch's eval scripts.
    let reported = { if case .crossEntropy = lossKind { Loss.crossEntropy(labelSmoothing: 0) } else { lossKind } }()
    for start in stride(from: 0, to: data.count, by: batch) {
      let real = Array(start..<min(start + batch, data.count))
      var (images, targets) = data.batch(real)
      if real.count < batch {
        images = Tensor(shape: [batch] + images.shape.dropFirst(), data: images.data + Array(repeating: 0, count: (batch - real.count) * (images.count / real.count)))
      }
      // Weights bound and buffers allocated once; each batch only replaces the input.
      let active: Session
      if let session {
        try session.setInput(inputName, images)
        active = session
      } else {
        active = try Session(compiled, inputs: [inputName: images], weights: weights)
        session = active
      }
      active.forward()
      guard let output = active.outputs[compiled.outputNames[0]] else { preconditionFailure("no first output") }
      var prediction = Dataset.rows(output, real.indices.map { $0 })
      if lossKind.targetsAreClassIndices {
        // Scores [N, …, C] with labels [N, …]: one row of scores per label.
        guard prediction.shape.count >= 2, prediction.count == targets.count * prediction.shape.last! else {
          throw DiagnosticError(.badTraining("evaluation needs a first output of shape [N, classes] or [N, …, classes] for labels "
            + "\(targets.shape), got \(prediction.shape)"), at: .unknown)
        }
        prediction = Tensor(shape: [targets.count, prediction.shape.last!], data: prediction.data)
        targets = Tensor(shape: [targets.count], data: targets.data)
        labels += targets.count
      }
      loss += Interpreter.loss(reported, prediction, targets).value * Double(real.count)
      if lossKind.targetsAreClassIndices {
        let classes = prediction.shape[1]
        for (row, label) in targets.data.enumerated() {
          let scores = prediction.data[(row * classes)..<((row + 1) * classes)]
          // The label's rank: how many classes score higher (ties go to the lower index, as argmax).
          let mine = scores[scores.startIndex + Int(label)]
          let rank = scores.indices.filter { scores[$0] > mine || (scores[$0] == mine && $0 < scores.startIndex + Int(label)) }.count
          for k in correct.indices.dropFirst() where rank < k { correct[k] += 1 }
        }
      } else {
        for (p, t) in zip(prediction.data, targets.data) {
          absolute += abs(Double(p) - Double(t))
          squares += (Double(p) - Double(t)) * (Double(p) - Double(t))
        }
      }
    }
    let count = Double(max(1, data.count))
    let elements = Double(max(1, data.targets.count))
    var result = Evaluation()
    result.loss = loss / count
    let labelCount = Double(max(1, labels))
    if lossKind.targetsAreClassIndices { result.accuracy = Double(correct[1]) / labelCount }
    for metric in metrics {
      switch metric {
      case .accuracy: result.values.append((metric.name, Double(correct[1]) / labelCount))
      case .topK(let k): result.values.append((metric.name, Double(correct[k]) / labelCount))
      case .loss: result.values.append((metric.name, result.loss))
      case .mae: result.values.append((metric.name, absolute / elements))
      case .rmse: result.values.append((metric.name, (squares / elements).squareRoot()))
      }
    }
    return result
  }
}
