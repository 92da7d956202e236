import DanluDiagnostics
import DanluFrontend
import DanluIR
import DanluPasses

/// The stages between a built model and code: binding every symbolic dimension, then the pass pipeline.
public enum Pipeline {
  /// The graph with every symbol bound; an unbound symbol is a user error naming it.
  public static func bound(_ model: Model) throws(DiagnosticError) -> Graph {
    let graph = model.graph.binding(model.bindings)
    let free = graph.freeSymbols.sorted()
    if !free.isEmpty { throw DiagnosticError(.unboundDim(free), at: .unknown) }
    return graph
  }

  /// Parses `--passes a,b` (or the default pipeline), rejecting unknown names with a suggestion.
  public static func passes(_ names: [String]?) throws(DiagnosticError) -> [Pass] {
    guard let names else { return PassRegistry.inference }
    var pipeline: [Pass] = []
    for name in names {
      guard let pass = PassRegistry.named(name) else {
        throw DiagnosticError(.unknownPass(name, known: PassRegistry.all.map(\.name),
                                           suggestion: closestMatch(to: name, in: PassRegistry.all.map(\.name))), at: .unknown)
      }
      pipeline.append(pass)
    }
    return pipeline
  }

  /// Runs the passes; with `timePasses`, their timing table goes to standard error.
  public static func optimize(_ graph: Graph, passes: [Pass], timePasses: Bool = false) -> Graph {
    let (result, _, times) = PassManager(passes).timedRun(graph)
    if timePasses { FileHandleOutput.standardError(PassManager.timingReport(times)) }
    return result
  }
}
