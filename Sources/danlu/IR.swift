import ArgumentParser
import DanluDriver

extension IRFormat: ExpressibleByArgument {}

struct IR: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print the typed IR: after the whole pipeline, after one pass, or after every pass.")

  @OptionGroup var options: ModelOptions

  @Option(help: "Print the IR after this pass ('frontend' for the graph as built).")
  var after: String?

  @Flag(help: "Print the IR after every pass.")
  var printAfterAll = false

  @Option(help: "Output format: text, dot (Graphviz) or json.")
  var format: IRFormat = .text

  func run() throws {
    try runReporting {
      print(try Commands.ir(options.model, try options.buildOptions(), after: after, printAfterAll: printAfterAll,
                            format: format), terminator: "")
    }
  }
}
