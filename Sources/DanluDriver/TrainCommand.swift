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
  static func trainSource(_ graph: Graph, _ config: TrainConfig, _ options: BuildOptions, source: String) throws(DiagnosticError) -> String {
    let train = try Autodiff.trainingGraph(graph, loss: config.loss)
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
      let trainC = try trainSource(graph, config, options.build, source: path)
      let inference = Pipeline.optimize(graph, passes: try Pipeline.passes(options.build.passes))
      let evalC = CEmitter.emit(inference, source: path)
      var trainSet = try Dataset.fashionMNIST(.train, directory: options.dataDirectory)
      var testSet = try Dataset.fashionMNIST(.test, directory: options.dataDirectory)
      if let n = config.normalize {
        trainSet = trainSet.normalized(mean: n.mean, std: n.std)
        testSet = testSet.normalized(mean: n.mean, std: n.std)
      }
      let out = options.out ?? (graph.name + ".safetensors")

      return try inProcess(trainC, graph.name + "_train") { (trainModel) throws(DiagnosticError) in
        try inProcess(evalC, graph.name) { (evalModel) throws(DiagnosticError) in
          if let threads = options.build.threads { trainModel.setThreads(threads) }
          let step = try TrainStep(trainModel, weights: graph.initialWeights(model.initializers, seed: config.seed),
                                   optimizer: config.optimizer)
          try checkInput(step, trainSet)
          var firstEpoch = 0
          if let resume = options.resume {
            firstEpoch = try step.loadCheckpoint(try WeightSet(contentsOf: resume).tensors)
            log("resumed from \(resume): \(firstEpoch) epoch(s) done, \(step.steps) steps")
          }
          var last = (accuracy: 0.0, loss: 0.0)
          if firstEpoch >= config.epochs {
            last = try evaluate(evalModel, WeightSet(step.weights.map { ($0.key, $0.value) }), testSet, batch: config.batch)
          }
          for epoch in firstEpoch..<max(firstEpoch, config.epochs) {
            var batches = trainSet.batchIndices(size: config.batch, seed: config.seed &+ UInt64(epoch) &* 0x9E37, dropLast: true)
            if let limit = options.stepsPerEpoch { batches = Array(batches.prefix(limit)) }
            let start = DispatchTime.now().uptimeNanoseconds
            var total = 0.0
            for (index, batch) in batches.enumerated() {
              step.optimizer.lr = config.learningRate(epoch: epoch, step: index, stepsPerEpoch: batches.count)
              let (images, labels) = trainSet.batch(batch)
              step.setInput("x") { buffer in images.data.withUnsafeBufferPointer { buffer.baseAddress!.update(from: $0.baseAddress!, count: $0.count) } }
              step.setInput("target") { buffer in for (i, label) in labels.enumerated() { buffer[i] = Float(label) } }
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
            last = try evaluate(evalModel, weights, testSet, batch: config.batch)
            try step.saveCheckpoint(to: out, epoch: epoch + 1)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            log("epoch \(epoch + 1)/\(config.epochs): train_loss=" + String(format: "%.4f", total / Double(max(1, batches.count)))
              + " test_accuracy=" + String(format: "%.4f", last.accuracy) + " test_loss=" + String(format: "%.4f", last.loss)
              + " (" + String(format: "%.1f", seconds) + " s) checkpoint: \(out)")
          }
          return "accuracy=" + String(format: "%.4f", last.accuracy) + " loss=" + String(format: "%.4f", last.loss) + "\n"
        }
      }
    } catch {
      throw DriverFailure(loader.renderer.render(error))
    }
  }

  static func checkInput(_ step: TrainStep, _ data: Dataset) throws(DiagnosticError) {
    guard let shape = step.inputShape("x"), Array(shape.dropFirst()) == Array(data.images.shape.dropFirst()) else {
      throw DiagnosticError(.badTraining("the model's input 'x' is \(step.inputShape("x") ?? []), but the data set's images are "
        + "\(Array(data.images.shape.dropFirst())) each; declare x: f32[N, \(data.images.shape.dropFirst().map(String.init).joined(separator: ", "))]"),
        at: .unknown)
    }
  }

  /// Accuracy (a fraction) and mean cross-entropy of the first output on a labelled set, in batches of the compiled
  /// size; the last batch is padded and its padding ignored.
  static func evaluate(_ compiled: CompiledModel, _ weights: WeightSet, _ data: Dataset, batch: Int)
    throws(DiagnosticError) -> (accuracy: Double, loss: Double)
  {
    var correct = 0, loss = 0.0
    let inputName = compiled.inputNames[0]
    var session: Session?
    for start in stride(from: 0, to: data.count, by: batch) {
      let real = Array(start..<min(start + batch, data.count))
      var (images, labels) = data.batch(real)
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
      guard let logits = active.outputs[compiled.outputNames[0]], logits.shape.count == 2 else {
        throw DiagnosticError(.badTraining("evaluation needs a first output of shape [N, classes]"), at: .unknown)
      }
      let classes = logits.shape[1]
      for (row, label) in labels.enumerated() {
        let z = logits.data[(row * classes)..<((row + 1) * classes)].map(Double.init)
        let peak = z.max()!
        let logTotal = log(z.reduce(0) { $0 + exp($1 - peak) }) + peak
        loss += logTotal - z[label]
        if z.firstIndex(of: peak) == label { correct += 1 }
      }
    }
    return (Double(correct) / Double(max(1, data.count)), loss / Double(max(1, data.count)))
  }

  /// `danlu eval`: test-split accuracy and loss of a checkpoint; the last line is `accuracy=F loss=L`.
  public static func eval(_ path: String, weights file: String, _ options: BuildOptions, batch: Int,
                          dataDirectory: String = "/usr/share/datasets/fashion-mnist") throws(DriverFailure) -> String {
    var build = options
    build.batch = batch
    let (model, graph, source, loader) = try generate(path, build)
    do throws(DiagnosticError) {
      let weights = try Commands.weights(file, model, graph, seed: 0)
      let test = try Dataset.fashionMNIST(.test, directory: dataDirectory)
      let config = try TrainConfig(model.train)
      let data = config.normalize.map { test.normalized(mean: $0.mean, std: $0.std) } ?? test
      let result = try inProcess(source, graph.name) { (compiled) throws(DiagnosticError) in
        try evaluate(compiled, weights, data, batch: batch)
      }
      return "test: \(data.count) images\naccuracy=" + String(format: "%.4f", result.accuracy) + " loss="
        + String(format: "%.4f", result.loss) + "\n"
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
      let source = try trainSource(graph, config, options, source: path)
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
        return table + "train step: batch \(config.batch), \(config.optimizer.kind == DANLU_SGD ? "sgd" : "adam") update included\n"
          + benchLine(times)
      }
    } catch {
      throw DriverFailure(loader.renderer.render(error))
    }
  }
}
