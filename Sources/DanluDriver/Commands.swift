import DanluDiagnostics
import DanluFrontend
import DanluIR
import DanluPasses
import Foundation

/// A user error, already rendered with file, line, column, the source line and a caret.
public struct DriverFailure: Error, Sendable {
  public var rendered: String

  public init(_ rendered: String) { self.rendered = rendered }
}

public enum FileHandleOutput {
  public static func standardError(_ text: String) {
    FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
  }
}

/// The library behind each command-line subcommand; the CLI only parses flags and prints.
public enum Commands {
  /// Builds the model, turning diagnostics into a rendered failure.
  public static func load(_ path: String, _ options: BuildOptions) throws(DriverFailure) -> (Model, ModelLoader) {
    var loader = ModelLoader()
    do {
      return (try loader.model(at: path, options: options), loader)
    } catch {
      throw DriverFailure(loader.renderer.render(error))
    }
  }

  public static func check(_ path: String, _ options: BuildOptions) throws(DriverFailure) -> String {
    let (model, _) = try load(path, options)
    // The memory figures need every dimension bound; the ones still free count as 1, as in the totals.
    let free = Dictionary(uniqueKeysWithValues: model.graph.freeSymbols.map { ($0, 1) })
    let graph = Pipeline.optimize(model.graph.binding(model.bindings.merging(free) { a, _ in a }), passes: PassRegistry.inference)
    return CheckReport.render(model) + (graph.memoryPlan.map { $0.summary + "\n" } ?? "")
  }
}
