import CDanluRuntime
import DanluCodegen
import DanluDiagnostics
import DanluFrontend
import DanluIR
import DanluPasses
import DanluRuntime
import Foundation

/// What `danlu train` takes beyond the spec's `train:` section (flags override the section).
public struct TrainOptions: Sendable {
  public var build = BuildOptions()
  public var epochs: Int?
  public var batch: Int?
  public var lr: Float?
  public var resume: String?
  /// Start from these weights where names match (overrides the spec's `train.init`).
  public var initFrom: String?
  /// The checkpoint written after each epoch; default `MODEL.safetensors` in the current folder.
  public var out: String?
  /// Stop each epoch after this many steps (quick runs and tests).
  public var stepsPerEpoch: Int?
  public var dataDirectory = "/usr/share/datasets/fashion-mnist"
  /// Redraw one progress line in place (a terminal) instead of printing plain lines.
  public var interactive = false

  public init() {}
}

extension Commands {
  /// Loads the spec, applies the flags, and builds the bound inference graph at the training batch size.
  static func trainingSetup(_ path: String, _ options: TrainOptions) throws(DriverFailure) -> (Model, TrainConfig, ModelLoader) {
    var loader = ModelLoader()
    do throws(DiagnosticError) {
      let spec = try loader.spec(at: path)
      var config = try TrainConfig(spec.train)
      if let epochs = options.epochs { config.epochs = epochs }
      if let batch = options.batch { config.batch = batch }
      if let lr = options.lr { config.optimizer.lr = lr }
      guard config.epochs >= 1, config.batch >= 1, config.optimizer.lr > 0 else {
        throw DiagnosticError(.badTraining("epochs and batch must be ≥ 1 and the learning rate positive"), at: .unknown)
      }
      let model = try Frontend.build(spec, bindings: options.build.bindings, batch: config.batch)
      return (model, config, loader)
    } catch {
      throw DriverFailure(loader.renderer.render(error))
    }
  }

  /// The train-step C source: autodiff, then the same passes as inference.
  static func trainSource(_ graph: Graph, _ model: Model, _ config: TrainConfig, _ options: BuildOptions, source: String)
    throws(DiagnosticError) -> String
  {
    let train = try Autodiff.trainingGraph(graph, loss: config.loss, frozen: model.frozen, batchNormMomentum: model.batchNormMomentum)
    let optimized = Pipeline.optimize(train, passes: try Pipeline.passes(options.passes), timePasses: options.timePasses)
    return CEmitter.emit(optimized, source: source, defaultThreads: options.threads ?? 0)
  }

  /// `danlu train`: epochs over the training split with progress, test accuracy and loss after each, and an atomic
  /// checkpoint (weights, optimizer state, epoch) after each. The last line is `accuracy=F loss=L`.
  public static func train(_ path: String, _ options: TrainOptions, log: (String) -> Void, progress: (String) -> Void)
    throws(DriverFailure) -> String
  {
    let (model, config, loader) = try trainingSetup(path, options)
    do throws(DiagnosticError) {
      let graph = try Pipeline.bound(model)
      let trainC = try trainSource(graph, model, config, options.build, source: path)
      let inference = Pipeline.optimize(graph, passes: try Pipeline.passes(options.build.passes))
      let evalC = CEmitter.emit(inference, source: path)
      let trainSet = try loadData(config, .train, specPath: path, directory: options.dataDirectory)
      let testSet = try loadData(config, .test, specPath: path, directory: options.dataDirectory)
      let out = options.out ?? (graph.name + ".safetensors")
      var weights = graph.initialWeights(model.initializers, seed: config.seed)
      if let initFrom = options.initFrom ?? config.initFrom.map({ resolve($0, relativeTo: path) }) {
        log(try initialize(&weights, from: initFrom))
      }
      if !model.frozen.isEmpty { log("frozen (trainable=false): \(model.frozen.count) parameters") }

      return try inProcess(trainC, graph.name + "_train") { (trainModel) throws(DiagnosticError) in
        try inProcess(evalC, graph.name) { (evalModel) throws(DiagnosticError) in
          if let threads = options.build.threads { trainModel.setThreads(threads) }
          let step = try TrainStep(trainModel, weights: weights, optimizer: config.optimizer)
          step.seed = config.seed
          log(step.memorySummary)
          try checkData(step, trainSet, config.loss)
          try checkData(step, testSet, config.loss)
          guard trainSet.count >= config.batch else {
            throw DiagnosticError(.badTraining("the training split has \(trainSet.count) examples, fewer than one batch of "
              + "\(config.batch) (partial batches are dropped); use a smaller batch"), at: .unknown)
          }
          var firstEpoch = 0
          if let resume = options.resume {
            firstEpoch = try step.loadCheckpoint(try WeightSet(contentsOf: resume).tensors)
            log("resumed from \(resume): \(firstEpoch) epoch(s) done, \(step.steps) steps")
          }
          var last = Evaluation()
          if firstEpoch >= config.epochs {
            last = try evaluate(evalModel, WeightSet(step.weights.map { ($0.key, $0.value) }), testSet, batch: config.batch, config)
          }
          for epoch in firstEpoch..<max(firstEpoch, config.epochs) {
            var batches = trainSet.batchIndices(size: config.batch, seed: config.seed &+ UInt64(epoch) &* 0x9E37, dropLast: true)
            if let limit = options.stepsPerEpoch { batches = Array(batches.prefix(limit)) }
            let start = DispatchTime.now().uptimeNanoseconds
            var total = 0.0
            for (index, batch) in batches.enumerated() {
              step.optimizer.lr = config.learningRate(epoch: epoch, step: index, stepsPerEpoch: batches.count)
              let (images, targets) = trainSet.batch(batch)
              step.setInput("x") { buffer in images.data.withUnsafeBufferPointer { buffer.baseAddress!.update(from: $0.baseAddress!, count: $0.count) } }
              step.setInput("target") { buffer in targets.data.withUnsafeBufferPointer { buffer.baseAddress!.update(from: $0.baseAddress!, count: $0.count) } }
              guard let loss = step.step() else {
                throw DiagnosticError(.badTraining("the loss is not finite at epoch \(epoch + 1) step \(index + 1); "
                  + "try a smaller learning rate (now \(step.optimizer.lr))"), at: .unknown)
              }
              total += Double(loss)
              let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
              let done = index + 1
              if options.interactive || done == batches.count || done % max(1, batches.count / 10) == 0 {
                let rate = Double(done * config.batch) / max(seconds, 1e-9)
                let eta = Double(batches.count - done) * seconds / Double(done)
                let width = 24, filled = width * done / batches.count
                progress("epoch \(epoch + 1)/\(config.epochs) [" + String(repeating: "#", count: filled)
                  + String(repeating: ".", count: width - filled) + "] step \(done)/\(batches.count) loss="
                  + String(format: "%.4f", total / Double(done)) + " " + String(format: "%.0f", rate) + " samples/s ETA "
                  + String(format: "%.0f", eta) + "s")
              }
            }
            let weights = WeightSet(step.weights.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
            last = try evaluate(evalModel, weights, testSet, batch: config.batch, config)
            try step.saveCheckpoint(to: out, epoch: epoch + 1)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            log("epoch \(epoch + 1)/\(config.epochs): train_loss=" + String(format: "%.4f", total / Double(max(1, batches.count)))
              + last.values.map { " test_\($0.name)=" + String(format: "%.4f", $0.value) }.joined()
              + " (" + String(format: "%.1f", seconds) + " s) checkpoint: \(out)")
          }
          return last.summaryLine
        }
      }
    } catch {
      throw DriverFailure(loader.renderer.render(error))
    }
  }

  /// The data a spec's `train.data` names, normalized as it declares; file paths are relative to the spec's folder.
  static func loadData(_ config: TrainConfig, _ split: Dataset.Split, specPath: String, directory: String)
    throws(DiagnosticError) -> Dataset
  {
    var data: Dataset
    switch config.data {
    case .fashionMNIST: data = try Dataset.fashionMNIST(split, directory: directory)
    case .files(let format, let train, let test):
      let paths = (split == .train ? train : test).map { resolve($0, relativeTo: specPath) }
      data = format == "npy" ? try Dataset.npy(inputs: paths[0], targets: paths[1])
        : try Dataset.idx(images: paths[0], labels: paths[1], classes: 1 << 24)
    case .text(let files, let context, let fraction):
      data = try Dataset.text(files.map { resolve($0, relativeTo: specPath) }, context: context, split, testFraction: fraction)
    }
    return config.normalize.map { data.normalized(mean: $0.mean, std: $0.std) } ?? data
  }

  static func resolve(_ path: String, relativeTo spec: String) -> String {
    path.hasPrefix("/") ? path : URL(fileURLWithPath: spec).deletingLastPathComponent().appendingPathComponent(path).path
  }

  /// Loads the tensors of a checkpoint whose names and shapes match the model's (transfer learning: a trained body
  /// under a new head); a name that matches with another shape is an error. Returns what it did, for the log.
  static func initialize(_ weights: inout [String: Tensor], from path: String) throws(DiagnosticError) -> String {
    let checkpoint = try WeightSet(contentsOf: path).tensors
    var loaded: [String] = [], fresh: [String] = []
    for name in weights.keys.sorted() {
      guard let tensor = checkpoint[name] else { fresh.append(name); continue }
      guard tensor.shape == weights[name]!.shape else {
        throw DiagnosticError(.weightsMismatch("\(path): '\(name)' has shape \(tensor.shape), the model expects "
          + "\(weights[name]!.shape); rename the layer to start it fresh"), at: .unknown)
      }
      weights[name] = tensor
      loaded.append(name)
    }
    guard !loaded.isEmpty else {
      throw DiagnosticError(.weightsMismatch("\(path) has none of the model's tensors (the model has \(weights.keys.sorted().prefix(3).joined(separator: ", "))…)"),
                            at: .unknown)
    }
    let unused = checkpoint.keys.filter { weights[$0] == nil && !$0.hasPrefix("optimizer.") && !$0.hasPrefix("trainer.") }.sorted()
    return "init: \(loaded.count) of \(weights.count) tensors from \(path)"
      + (fresh.isEmpty ? "" : "; fresh: \(fresh.joined(separator: ", "))")
      + (unused.isEmpty ? "" : "; not in the model: \(unused.joined(separator: ", "))")
  }

  /// Inputs must have the model's item shape; class indices must be below the class count; other targets must have
  /// the prediction's item shape.
  static func checkData(_ step: TrainStep, _ data: Dataset, _ loss: Autodiff.Loss) throws(DiagnosticError) {
    let itemShape = Array(data.images.shape.dropFirst())
    guard let shape = step.inputShape("x"), Array(shape.dropFirst()) == itemShape else {
      throw DiagnosticError(.badTraining("the model's input 'x' is \(step.inputShape("x") ?? []), but the data set's inputs are "
        + "\(itemShape) each; declare x: f32[N, \(itemShape.map(String.init).joined(separator: ", "))]"), at: .unknown)
    }
    let target = step.inputShape("target") ?? []
    if loss.targetsAreClassIndices {
      // One class index per sample ([count]), or per position of a sequence ([count, S] for scores [N, S, classes]).
      let classes = step.outputShape(at: 1)?.last ?? 0
      let shapeFits = Array(data.targets.shape.dropFirst()) == Array(target.dropFirst())
      if let bad = data.targets.data.firstIndex(where: { $0 < 0 || $0 >= Float(classes) || $0 != $0.rounded() }) ?? (shapeFits ? nil : 0) {
        throw DiagnosticError(.badTraining("\(loss.name) needs class indices [\((["count"] + target.dropFirst().map(String.init)).joined(separator: ", "))] below "
          + "\(classes) (the model's classes); the data's targets are \(data.targets.shape) with \(data.targets.data[bad]) at \(bad)"), at: .unknown)
      }
    } else if Array(data.targets.shape.dropFirst()) != Array(target.dropFirst()) {
      throw DiagnosticError(.badTraining("\(loss.name) compares the prediction \(target) with targets of the same shape, "
        + "but the data's targets are \(Array(data.targets.shape.dropFirst())) each"), at: .unknown)
    }
  }

  /// `danlu eval`: test-split accuracy and loss of a checkpoint; the last line is `accuracy=F loss=L`.
  public static func eval(_ path: String, weights file: String, _ options: BuildOptions, batch: Int,
                          dataDirectory: String = "/usr/share/datasets/fashion-mnist") throws(DriverFailure) -> String {
    var build = options
    build.batch = batch
    let (model, graph, source, loader) = try generate(path, build)
    do throws(DiagnosticError) {
      let weights = try Commands.weights(file, model, graph, seed: 0)
      let config = try TrainConfig(model.train)
      let data = try loadData(config, .test, specPath: path, directory: dataDirectory)
      let result = try inProcess(source, graph.name) { (compiled) throws(DiagnosticError) in
        try evaluate(compiled, weights, data, batch: batch, config)
      }
      return "test: \(data.count) examples\n" + result.values.map { "\($0.name)=" + String(format: "%.4f", $0.value) }.joined(separator: " ")
        + "\n" + result.summaryLine
    } catch {
      throw DriverFailure(loader.renderer.render(error))
    }
  }

  /// `danlu bench --train`: one full train step (forward, backward, optimizer update) timed like inference.
  public static func benchTrain(_ path: String, _ options: BuildOptions, runs: Int, profile: Bool = false)
    throws(DriverFailure) -> String
  {
    var trainOptions = TrainOptions()
    trainOptions.build = options
    trainOptions.batch = options.batch
    let (model, config, loader) = try trainingSetup(path, trainOptions)
    do throws(DiagnosticError) {
      guard runs > 0 else { throw DiagnosticError(.runtimeFailed("--runs needs a positive count"), at: .unknown) }
      let graph = try Pipeline.bound(model)
      let source = try trainSource(graph, model, config, options, source: path)
      return try inProcess(source, graph.name + "_train", defines: profile ? ["DANLU_PROFILE"] : []) { (compiled) throws(DiagnosticError) in
        if let threads = options.threads { compiled.setThreads(threads) }
        let step = try TrainStep(compiled, weights: graph.initialWeights(model.initializers, seed: 0), optimizer: config.optimizer)
        let x = Tensor.random(step.inputShape("x") ?? [], seed: 1)
        let n = step.inputShape("target")?.first ?? 1
        step.setInput("x") { buffer in x.data.withUnsafeBufferPointer { buffer.baseAddress!.update(from: $0.baseAddress!, count: $0.count) } }
        step.setInput("target") { buffer in for i in buffer.indices { buffer[i] = Float((i * 7) % max(1, n)) } }
        var before: [Double] = []
        let times = timeRuns(runs, afterWarmup: { before = compiled.profile.map(\.milliseconds) }) { _ = step.step() }
        let table = profile
          ? profileTable(zip(compiled.profile, before).map { ($0.0.name, $0.0.flops, ($0.0.milliseconds - $0.1) / Double(runs)) }) : ""
        return table + step.memorySummary + "\n"
          + "train step: batch \(config.batch), \(config.optimizer.kind == DANLU_SGD ? "sgd" : "adam") update included\n"
          + benchLine(times)
      }
    } catch {
      throw DriverFailure(loader.renderer.render(error))
    }
  }
}
