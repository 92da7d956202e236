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

  /// Passes that build on the choices of the ones before them, in the only order they may run: Winograd, then direct
  /// loops for what it left, then packing the weights those read, then layouts for the direct convolutions' planes,
  /// then the memory plan of the final graph. Out of order, a later pass would undo what an earlier one relied on
  /// (a Winograd convolution reading packed panels or a blocked input), which the verifier would stop as a compiler
  /// bug; and a pass after the memory plan would leave it stale.
  static let ordered = [preferWinograd, preferDirect, packWeights, chooseLayout, planMemory].map(\.name)

  /// Parses `--passes a,b` (or the default pipeline), rejecting unknown names with a suggestion, the passes of
  /// `ordered` out of their order and any pass after `plan-memory`.
  public static func passes(_ names: [String]?) throws(DiagnosticError) -> [Pass] {
    guard let names else { return PassRegistry.inference }
    var pipeline: [Pass] = []
    for name in names {
      guard let pass = PassRegistry.named(name) else {
        throw DiagnosticError(.unknownPass(name, known: PassRegistry.all.map(\.name),
                                           suggestion: closestMatch(to: name, in: PassRegistry.all.map(\.name))), at: .unknown)
      }
      // Any other pass may run anywhere before the memory plan.
      let rank = ordered.firstIndex(of: name).map(Double.init) ?? Double(ordered.count) - 1.5
      if let later = pipeline.map(\.name).first(where: { Double(ordered.firstIndex(of: $0) ?? -1) > rank }) {
        throw DiagnosticError(.passOrder(name, after: later, order: ordered), at: .unknown)
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
