import ArgumentParser
import DanluDriver

@main
struct Danlu: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "danlu",
    abstract: "丹炉 Danlu: compile YAML model specs into fast native binaries.",
    subcommands: [Check.self, IR.self, Compile.self, Run.self, Train.self, Eval.self, Bench.self, Sample.self, DataExport.self]
  )
}

/// Options every model command shares.
struct ModelOptions: ParsableArguments {
  @Argument(help: "The model spec (YAML).")
  var model: String

  @Option(help: "Bind the batch dimension (the first dimension of the first input).")
  var batch: Int?

  @Option(name: .customLong("dim"), help: "Bind a symbolic dimension, e.g. --dim T=64 (repeatable).")
  var dims: [String] = []

  @Flag(help: "Print each pass's time to standard error.")
  var timePasses = false

  @Option(help: "BLAS threads for the compiled code (compile bakes it in as the binary's default).")
  var threads: Int?

  @Option(help: "The pass pipeline, comma-separated (default: the inference pipeline; see danlu ir --help).")
  var passes: String?
}

/// Runs a driver action, printing diagnostics and exiting 1 on user errors.
func runReporting(_ body: () throws -> Void) throws {
  do {
    try body()
  } catch let failure as DriverFailure {
    FileHandleOutput.standardError(failure.rendered)
    throw ExitCode(1)
  }
}

extension ModelOptions {
  func buildOptions() throws -> BuildOptions {
    do {
      return BuildOptions(batch: batch, bindings: try BuildOptions.parseBindings(dims), timePasses: timePasses, threads: threads,
                          passes: passes?.split(separator: ",").map(String.init))
    } catch {
      throw DriverFailure("error: " + error.diagnostics.map(\.message).joined(separator: "\n"))
    }
  }
}
