import ArgumentParser
import DanluDriver

struct Compile: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compile a model to a standalone executable (with OUT.c and OUT.safetensors beside it).")

  @OptionGroup var options: ModelOptions

  @Option(name: .shortAndLong, help: "The executable to write (for --target cuda: the folder).")
  var output: String

  @Option(help: "Weights (.safetensors) to ship as OUT.safetensors; default: seeded PyTorch-style initialization.")
  var weights: String?

  @Option(help: "The seed for initial weights.")
  var seed: UInt64 = 0

  @Option(help: "The target: cpu (an executable), or cuda (a folder of CUDA source that builds with nvcc).")
  var target: String = "cpu"

  func run() throws {
    try runReporting {
      switch target {
      case "cpu":
        print(try Commands.compile(options.model, try options.buildOptions(), output: output, weights: weights, seed: seed),
              terminator: "")
      case "cuda":
        print(try Commands.compileCuda(options.model, try options.buildOptions(), output: output, weights: weights, seed: seed),
              terminator: "")
      default:
        throw DriverFailure("error: unknown target '\(target)'; use --target cpu or --target cuda")
      }
    }
  }
}
