import ArgumentParser
import DanluDriver

struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compile to a shared object, load it in-process and run it on .npy inputs.")

  @OptionGroup var options: ModelOptions

  @Option(help: "Weights (.safetensors); default: seeded PyTorch-style initialization.")
  var weights: String?

  @Option(help: "An input as [NAME=]FILE.npy (repeatable; bare files fill the inputs in order).")
  var input: [String] = []

  @Option(help: "Where to write an output, as [NAME=]FILE.npy (repeatable; a bare file takes the first output).")
  var output: [String] = []

  @Flag(help: "Run through the reference interpreter instead of generated code.")
  var interpret = false

  @Option(help: "The seed for initial weights.")
  var seed: UInt64 = 0

  func run() throws {
    try runReporting {
      print(try Commands.run(options.model, try options.buildOptions(), weights: weights, inputs: input, outputs: output,
                             interpret: interpret, seed: seed), terminator: "")
    }
  }
}
