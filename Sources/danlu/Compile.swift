import ArgumentParser
import DanluDriver

struct Compile: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compile a model to a standalone executable (with OUT.c and OUT.safetensors beside it).")

  @OptionGroup var options: ModelOptions

  @Option(name: .shortAndLong, help: "The executable to write.")
  var output: String

  @Option(help: "Weights (.safetensors) to ship as OUT.safetensors; default: seeded PyTorch-style initialization.")
  var weights: String?

  @Option(help: "The seed for initial weights.")
  var seed: UInt64 = 0

  @Option(help: "The target: cpu (cuda arrives with its own issue).")
  var target: String = "cpu"

  func run() throws {
    try runReporting {
      guard target == "cpu" else { throw DriverFailure("error: target '\(target)' is not available yet; use --target cpu") }
      print(try Commands.compile(options.model, try options.buildOptions(), output: output, weights: weights, seed: seed),
            terminator: "")
    }
  }
}
