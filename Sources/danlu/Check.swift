import ArgumentParser
import DanluDriver

struct Check: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Validate a model; print each node's shape and parameters, then totals, MACs and FLOPs.")

  @OptionGroup var options: ModelOptions

  func run() throws {
    try runReporting {
      print(try Commands.check(options.model, try options.buildOptions()), terminator: "")
    }
  }
}
