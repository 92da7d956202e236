import ArgumentParser
import DanluDriver

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Time the compiled model in-process: median latency after warm-up, and a per-kernel profile.")

  @OptionGroup var options: ModelOptions

  @Option(help: "Timed runs after warm-up.") var runs = 20
  @Flag(help: "Print a per-kernel table (layer path, ms, share, GFLOP/s).") var profile = false
  @Option(help: "Weights (.safetensors); default: seeded initialization.") var weights: String?

  func run() throws {
    try runReporting {
      print(try Commands.bench(options.model, try options.buildOptions(), runs: runs, profile: profile,
                               threads: options.threads,
                               weights: weights), terminator: "")
    }
  }
}
