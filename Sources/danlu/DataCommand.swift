import ArgumentParser
import DanluDriver

struct DataExport: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "data", abstract: "Export items of an IDX file (MNIST, Fashion-MNIST; .gz or plain) as float32 .npy.")

  @Argument(help: "The IDX file, e.g. /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
  var file: String

  @Option(help: "The first item.") var start = 0
  @Option(help: "How many items.") var count = 1
  @Option(name: .shortAndLong, help: "The .npy file to write.") var output: String
  @Option(help: "Subtract this from every pixel (images only), as train.normalize does.") var mean: Float = 0
  @Option(help: "Then divide by this.") var std: Float = 1

  func run() throws {
    try runReporting { print(try Commands.exportData(file, start: start, count: count, output: output, mean: mean, std: std), terminator: "") }
  }
}
