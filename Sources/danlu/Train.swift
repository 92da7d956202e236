import ArgumentParser
import DanluDriver
import Foundation

struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train a model on its data set (the spec's train: section; flags override it).",
    discussion: """
      Prints progress (a redrawn bar on a terminal, plain lines otherwise), test accuracy and loss after every epoch,
      and writes a checkpoint atomically after every epoch: the weights under their state_dict names (danlu run and
      compiled binaries load it), the optimizer state and the epoch. The last line is accuracy=F loss=L (loss=L alone
      when the targets are not class indices).
      """)

  @OptionGroup var options: ModelOptions

  @Option(help: "Epochs (default: train.epochs).") var epochs: Int?
  @Option(help: "Learning rate (default: the optimizer's lr in train.optimizer).") var lr: Float?
  @Option(help: "Continue from a checkpoint written by danlu train (weights, optimizer state, epoch).") var resume: String?
  @Option(name: .customLong("init"), help: "Start from the weights of this checkpoint whose names match (default: train.init); the rest start fresh.")
  var initFrom: String?
  @Option(help: "The checkpoint to write after each epoch (default: MODEL.safetensors).") var out: String?
  @Option(help: "Stop each epoch after this many steps (a quick run).") var stepsPerEpoch: Int?
  @Option(help: "The folder with the data set's IDX files.") var data = "/usr/share/datasets/fashion-mnist"

  func run() throws {
    try runReporting {
      var train = TrainOptions()
      train.build = try options.buildOptions()
      train.batch = options.batch
      train.epochs = epochs
      train.lr = lr
      train.resume = resume
      train.initFrom = initFrom
      train.out = out
      train.stepsPerEpoch = stepsPerEpoch
      train.dataDirectory = data
      train.interactive = isatty(STDERR_FILENO) != 0
      let interactive = train.interactive
      // On a terminal the progress line is redrawn in place (carriage return, erase line); elsewhere every line stays.
      func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
      let result = try Commands.train(options.model, train, log: { line in
        write((interactive ? "\r\u{1B}[K" : "") + line + "\n")
      }, progress: { line in
        write(interactive ? "\r\u{1B}[K" + line : line + "\n")
      })
      print(result, terminator: "")
    }
  }
}

struct Eval: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Accuracy and loss of a checkpoint on the test split; the last line is accuracy=F loss=L.")

  @OptionGroup var options: ModelOptions

  @Option(help: "The checkpoint or weights (.safetensors).") var weights: String
  @Option(help: "The folder with the data set's IDX files.") var data = "/usr/share/datasets/fashion-mnist"

  func run() throws {
    try runReporting {
      print(try Commands.eval(options.model, weights: weights, try options.buildOptions(), batch: options.batch ?? 100,
                              dataDirectory: data), terminator: "")
    }
  }
}
