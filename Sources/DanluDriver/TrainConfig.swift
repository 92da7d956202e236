import CDanluRuntime
import DanluDiagnostics
import DanluIR
import DanluPasses
import DanluRuntime
import DanluSpec
import Foundation

/// The spec's `train:` section, with command-line overrides applied:
///
///     train:
///       data: fashion-mnist            # or npy(train=("x.npy", "y.npy"), test=(…)), idx(…): paths from the spec's folder
///       init: body.safetensors         # start from these weights where names match (transfer learning)
///       loss: cross_entropy            # or cross_entropy(label_smoothing=0.1), nll, mse, l1, bce, bce_with_logits, kl_divergence
///       optimizer: adam(lr=1e-3)       # sgd(lr, momentum, nesterov, weight_decay), adam(…), adamw(…)
///       schedule: cosine               # constant (default), step(step_size=2, gamma=0.1), cosine; warmup=STEPS
///       clip_grad_norm: 1.0
///       normalize: (0.2860, 0.3530)    # mean, std of the pixels in [0, 1]
///       batch: 64
///       epochs: 5
///       metrics: (accuracy, top_k(k=5), loss)   # reported on the test split; mae, rmse for value targets
///       seed: 0
public struct TrainConfig: Sendable {
  public enum Schedule: Sendable, Equatable {
    case constant
    case step(size: Int, gamma: Float)
    case cosine
  }

  /// Where the examples come from: Fashion-MNIST, or file pairs (inputs, targets) per split.
  public enum DataSource: Sendable, Equatable {
    case fashionMNIST
    case files(format: String, train: [String], test: [String])
    /// Plain text as bytes (a vocabulary of 256): windows of `context` bytes, each target the next byte; the last
    /// `testFraction` of the text is the test split.
    case text(files: [String], context: Int, testFraction: Double)
  }

  public var data = DataSource.fashionMNIST
  /// A checkpoint to start from: tensors whose names match the model's are loaded, the rest start fresh.
  public var initFrom: String?
  public var loss = Autodiff.Loss.crossEntropy(labelSmoothing: 0)
  public var optimizer = TrainStep.Optimizer(kind: DANLU_ADAM, lr: 1e-3)
  public var schedule = Schedule.constant
  public var warmupSteps = 0
  public var normalize: (mean: Float, std: Float)?
  public var batch = 64
  public var epochs = 1
  public var seed: UInt64 = 0
  /// Nil: accuracy and loss for class indices, loss otherwise.
  public var metrics: [Metric]?

  public init() {}

  static let keys = ["data", "init", "metrics", "loss", "optimizer", "schedule", "warmup", "clip_grad_norm", "normalize", "batch", "epochs", "seed"]

  /// Reads a `train:` mapping; every problem names its line and column.
  public init(_ node: YAMLNode?) throws(DiagnosticError) {
    guard let pairs = node?.mapping else { return }
    for pair in pairs {
      let key = pair.key.scalar ?? ""
      let location = pair.value.location
      guard let text = pair.value.scalar else {
        throw DiagnosticError(.badTraining("train.\(key) must be a single value, got \(pair.value.kindDescription)"), at: location)
      }
      if key == "init" {
        initFrom = text
        continue
      }
      if key == "data", text == "fashion-mnist" {
        data = .fashionMNIST
        continue
      }
      let expr = try ExprParser.parse(text, at: location)
      switch key {
      case "data": data = try Self.dataSource(expr)
      case "loss": loss = try Self.loss(expr)
      case "optimizer":
        let clip = optimizer.clipNorm
        optimizer = try Self.optimizer(expr)
        optimizer.clipNorm = clip
      case "schedule": schedule = try Self.schedule(expr)
      case "warmup": warmupSteps = try Self.int(expr, "train.warmup")
      case "clip_grad_norm": optimizer.clipNorm = try Self.float(expr, "train.clip_grad_norm")
      case "normalize":
        guard case .tuple(let items) = expr.kind, items.count == 2 else {
          throw DiagnosticError(.badTraining("train.normalize must be (mean, std), got '\(text)'"), at: location)
        }
        normalize = (try Self.float(items[0], "the mean"), try Self.float(items[1], "the std"))
      case "batch": batch = try Self.int(expr, "train.batch")
      case "epochs": epochs = try Self.int(expr, "train.epochs")
      case "seed": seed = UInt64(try Self.int(expr, "train.seed", minimum: 0))
      case "metrics": metrics = try Self.metrics(expr)
      default:
        throw DiagnosticError(.badTraining("unknown key 'train.\(key)'\(DiagnosticMessage.suggest(closestMatch(to: key, in: Self.keys))) "
          + "(the keys are \(Self.keys.joined(separator: ", ")))"), at: pair.key.location)
      }
    }
    let metricsLocation = pairs.first { $0.key.scalar == "metrics" }?.value.location ?? .unknown
    try checkMetrics(at: metricsLocation)
  }

  /// The learning rate at a global step: warm-up from lr/warmup to lr, then the schedule over epochs.
  public func learningRate(epoch: Int, step: Int, stepsPerEpoch: Int) -> Float {
    let base = optimizer.lr
    let global = epoch * stepsPerEpoch + step
    if global < warmupSteps { return base * Float(global + 1) / Float(warmupSteps) }
    switch schedule {
    case .constant: return base
    case .step(let size, let gamma): return base * pow(gamma, Float(epoch / size))
    case .cosine:
      let total = Float(max(1, epochs * stepsPerEpoch - warmupSteps))
      let progress = Float(global - warmupSteps) / total
      return base * 0.5 * (1 + cos(Float.pi * min(1, progress)))
    }
  }

  // MARK: Values

  static func call(_ expr: Expr) -> (name: String, arguments: [Argument])? {
    switch expr.kind {
    case .name(let name): return (name, [])
    case .call(let callee, let arguments): if case .name(let name) = callee.kind { return (name, arguments) }
    default: break
    }
    return nil
  }

  static func arguments(_ arguments: [Argument], allowed: [String], of what: String) throws(DiagnosticError) -> [String: Expr] {
    var result: [String: Expr] = [:]
    for argument in arguments {
      guard let label = argument.label, allowed.contains(label) else {
        throw DiagnosticError(.badTraining("\(what) takes named arguments \(allowed.joined(separator: ", ")); got '\(argument)'"),
                              at: argument.location)
      }
      result[label] = argument.value
    }
    return result
  }

  static func float(_ expr: Expr, _ what: String) throws(DiagnosticError) -> Float {
    switch expr.kind {
    case .float(let v): return Float(v)
    case .int(let v): return Float(v)
    case .unary("-", let inner): return -(try float(inner, what))
    default: throw DiagnosticError(.badTraining("\(what) must be a number, got '\(expr)'"), at: expr.location)
    }
  }

  static func int(_ expr: Expr, _ what: String, minimum: Int = 1) throws(DiagnosticError) -> Int {
    guard case .int(let v) = expr.kind, v >= minimum, v <= 1 << 31 else {
      throw DiagnosticError(.badTraining("\(what) must be an integer ≥ \(minimum), got '\(expr)'"), at: expr.location)
    }
    return v
  }

  static func loss(_ expr: Expr) throws(DiagnosticError) -> Autodiff.Loss {
    guard let (name, args) = call(expr) else {
      throw DiagnosticError(.badTraining("train.loss must be one of \(Autodiff.Loss.names.joined(separator: ", ")), got '\(expr)'"), at: expr.location)
    }
    switch name {
    case "cross_entropy":
      let values = try arguments(args, allowed: ["label_smoothing"], of: "cross_entropy")
      let smoothing = try values["label_smoothing"].map { (e: Expr) throws(DiagnosticError) in try float(e, "label_smoothing") } ?? 0
      guard (0..<1).contains(smoothing) else {
        throw DiagnosticError(.badTraining("label_smoothing must be in [0, 1), got \(smoothing)"), at: expr.location)
      }
      return .crossEntropy(labelSmoothing: smoothing)
    case _ where Autodiff.Loss(name: name) != nil:
      _ = try arguments(args, allowed: [], of: name)
      return Autodiff.Loss(name: name)!
    default:
      throw DiagnosticError(.badTraining("unknown loss '\(name)'\(DiagnosticMessage.suggest(closestMatch(to: name, in: Autodiff.Loss.names))) "
        + "(the losses are \(Autodiff.Loss.names.joined(separator: ", ")))"), at: expr.location)
    }
  }

  static let optimizers = ["sgd", "adam", "adamw"]
  static let optimizerKinds = ["sgd": DANLU_SGD, "adam": DANLU_ADAM, "adamw": DANLU_ADAMW]

  static func optimizer(_ expr: Expr) throws(DiagnosticError) -> TrainStep.Optimizer {
    guard let (name, args) = call(expr), let kind = optimizerKinds[name] else {
      let name = call(expr)?.name ?? "\(expr)"
      throw DiagnosticError(.badTraining("unknown optimizer '\(name)'\(DiagnosticMessage.suggest(closestMatch(to: name, in: optimizers))) "
        + "(the optimizers are \(optimizers.joined(separator: ", ")))"), at: expr.location)
    }
    let allowed = kind == DANLU_SGD ? ["lr", "momentum", "nesterov", "weight_decay"] : ["lr", "betas", "eps", "weight_decay"]
    let values = try arguments(args, allowed: allowed, of: name)
    guard let lr = values["lr"] else { throw DiagnosticError(.badTraining("\(name) needs a learning rate: \(name)(lr=…)"), at: expr.location) }
    var result = TrainStep.Optimizer(kind: kind, lr: try float(lr, "lr"))
    if kind == DANLU_ADAMW { result.weightDecay = 0.01 }  // PyTorch's AdamW default
    if let v = values["weight_decay"] { result.weightDecay = try float(v, "weight_decay") }
    if let v = values["momentum"] { result.momentum = try float(v, "momentum") }
    if let v = values["nesterov"] {
      guard case .bool(let b) = v.kind else { throw DiagnosticError(.badTraining("nesterov must be true or false"), at: v.location) }
      result.nesterov = b
    }
    if let v = values["eps"] { result.eps = try float(v, "eps") }
    if let v = values["betas"] {
      guard case .tuple(let items) = v.kind, items.count == 2 else {
        throw DiagnosticError(.badTraining("betas must be (beta1, beta2), got '\(v)'"), at: v.location)
      }
      (result.beta1, result.beta2) = (try float(items[0], "beta1"), try float(items[1], "beta2"))
    }
    guard result.lr > 0, result.lr.isFinite else { throw DiagnosticError(.badTraining("lr must be positive, got \(result.lr)"), at: lr.location) }
    return result
  }

  static func dataSource(_ expr: Expr) throws(DiagnosticError) -> DataSource {
    let usage = "train.data must be fashion-mnist, npy(train=(\"x.npy\", \"y.npy\"), test=(\"x_test.npy\", \"y_test.npy\")), "
      + "idx(train=(images, labels), test=(…)) or text(files=(\"a.txt\", …), context=64, test_fraction=0.1) with quoted paths"
    guard let (format, args) = call(expr), ["npy", "idx", "text"].contains(format) else {
      throw DiagnosticError(.badTraining(usage + "; got '\(expr)'"), at: expr.location)
    }
    if format == "text" {
      let values = try arguments(args, allowed: ["files", "context", "test_fraction"], of: "text")
      guard let filesExpr = values["files"], let contextExpr = values["context"] else {
        throw DiagnosticError(.badTraining(usage + "; text needs files and context"), at: expr.location)
      }
      var files: [String] = []
      let items: [Expr] = { if case .tuple(let items) = filesExpr.kind { items } else { [filesExpr] } }()
      for item in items {
        guard case .string(let path) = item.kind else { throw DiagnosticError(.badTraining(usage), at: item.location) }
        files.append(path)
      }
      let context = try int(contextExpr, "context")
      var fraction: Float = 0.1
      if let given = values["test_fraction"] { fraction = try float(given, "test_fraction") }
      guard context >= 1, !files.isEmpty, fraction > 0, fraction < 1 else {
        throw DiagnosticError(.badTraining("text needs at least one file, context ≥ 1 and test_fraction in (0, 1)"), at: expr.location)
      }
      return .text(files: files, context: context, testFraction: Double(fraction))
    }
    let values = try arguments(args, allowed: ["train", "test"], of: format)
    func pair(_ key: String) throws(DiagnosticError) -> [String] {
      guard let value = values[key], case .tuple(let items) = value.kind, items.count == 2 else {
        throw DiagnosticError(.badTraining(usage + "; '\(key)' is missing or not a pair"), at: values[key]?.location ?? expr.location)
      }
      var paths: [String] = []
      for item in items {
        guard case .string(let path) = item.kind else { throw DiagnosticError(.badTraining(usage), at: item.location) }
        paths.append(path)
      }
      return paths
    }
    return .files(format: format, train: try pair("train"), test: try pair("test"))
  }

  static func metrics(_ expr: Expr) throws(DiagnosticError) -> [Metric] {
    let items: [Expr] = { if case .tuple(let items) = expr.kind { items } else { [expr] } }()
    var result: [Metric] = []
    for item in items {
      guard let (name, args) = call(item) else {
        throw DiagnosticError(.badTraining("train.metrics lists metrics: (accuracy, top_k(k=5), loss), mae, rmse; got '\(item)'"), at: item.location)
      }
      switch name {
      case "accuracy": result.append(.accuracy)
      case "loss": result.append(.loss)
      case "mae": result.append(.mae)
      case "rmse": result.append(.rmse)
      case "top_k":
        let values = try arguments(args, allowed: ["k"], of: "top_k")
        guard let k = values["k"] else { throw DiagnosticError(.badTraining("top_k needs k: top_k(k=5)"), at: item.location) }
        result.append(.topK(try int(k, "k")))
      default:
        throw DiagnosticError(.badTraining("unknown metric '\(name)'\(DiagnosticMessage.suggest(closestMatch(to: name, in: Metric.names))) "
          + "(the metrics are \(Metric.names.joined(separator: ", ")))"), at: item.location)
      }
    }
    return result
  }

  /// Metrics that need class indices against a loss that does not take them, or the other way round.
  func checkMetrics(at location: SourceLocation) throws(DiagnosticError) {
    for metric in metrics ?? [] {
      guard let needsClasses = metric.needsClassIndices, needsClasses != loss.targetsAreClassIndices else { continue }
      throw DiagnosticError(.badTraining("the metric \(metric.name) needs \(needsClasses ? "class-index" : "value") targets, but "
        + "\(loss.name) trains on \(loss.targetsAreClassIndices ? "class indices" : "values")"), at: location)
    }
  }

  static func schedule(_ expr: Expr) throws(DiagnosticError) -> Schedule {
    guard let (name, args) = call(expr) else {
      throw DiagnosticError(.badTraining("train.schedule must be constant, step(step_size=…, gamma=…) or cosine"), at: expr.location)
    }
    switch name {
    case "constant": return .constant
    case "cosine": return .cosine
    case "step":
      let values = try arguments(args, allowed: ["step_size", "gamma"], of: "step")
      guard let size = values["step_size"] else { throw DiagnosticError(.badTraining("step needs step_size (epochs)"), at: expr.location) }
      return .step(size: try int(size, "step_size"), gamma: try values["gamma"].map { (e: Expr) throws(DiagnosticError) in try float(e, "gamma") } ?? 0.1)
    default:
      throw DiagnosticError(.badTraining("unknown schedule '\(name)' (the schedules are constant, step, cosine)"), at: expr.location)
    }
  }
}
