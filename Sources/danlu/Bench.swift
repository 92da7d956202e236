import ArgumentParser
import DanluDriver

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Time the compiled model in-process: median latency after warm-up, and a per-kernel profile.")

  @OptionGroup var options: ModelOptions

  @Option(help: "Timed runs after warm-up.") var runs = 20
  @Flag(help: "Print a per-kernel table (layer path, ms, share, GFLOP/s).") var profile = false
  @Option(help: "Weights (.safetensors); default: seeded initialization.") var weights: String?
  @Flag(help: "Time one full train step (forward, backward, optimizer update) at the train batch size.") var train = false

  func run() throws {
    try runReporting {
      if train {
        print(try Commands.benchTrain(options.model, try options.buildOptions(), runs: runs, profile: profile), terminator: "")
        return
      }
      print(try Commands.bench(options.model, try options.buildOptions(), runs: runs, profile: profile,
                               threads: options.threads,
                               weights: weights), terminator: "")
    }
  }
}
