import DanluIR
import Foundation

/// A graph-to-graph transformation with a kebab-case name (`--after dce`).
public struct Pass: Sendable {
  public var name: String
  public var summary: String
  public var run: @Sendable (Graph) -> Graph

  public init(name: String, summary: String, run: @escaping @Sendable (Graph) -> Graph) {
    self.name = name
    self.summary = summary
    self.run = run
  }
}

/// Every pass, with its one-line summary, and the standard pipelines.
public enum PassRegistry {
  public static let all: [Pass] = [stripDropout, canonicalizeReshapes, foldConstants, commonSubexpressionElimination,
                                   deadCodeElimination, foldBatchNorm, fuse, preferWinograd, preferDirect, packWeights, chooseLayout,
                                   planMemory]

  /// `fold-batchnorm` is opt-in too: with batch norm already in the conv epilogue (one pass over the output) folding
  /// measured no faster on resnet18 (28.4–29.6 ms either way) and keeps a folded copy of the conv weights beside the
  /// bound ones (+45 MB there); it pays where an epilogue cannot take the batch norm.
  public static let inference: [Pass] = [stripDropout, canonicalizeReshapes, foldConstants, commonSubexpressionElimination,
                                         deadCodeElimination, fuse, preferWinograd, preferDirect, packWeights, chooseLayout,
                                         planMemory]

  public static func named(_ name: String) -> Pass? { all.first { $0.name == name } }
}

/// Runs a pipeline, verifying after every pass and recording the IR after the ones asked for.
public struct PassManager: Sendable {
  public var pipeline: [Pass]
  public var verify = true

  public init(_ pipeline: [Pass]) { self.pipeline = pipeline }

  /// Returns the final graph and, for each pass in `printAfter` (or every pass), the graph it produced.
  public func run(_ graph: Graph, printAfter: Set<String> = [], printAfterAll: Bool = false)
    -> (Graph, [(pass: String, graph: Graph)])
  {
    let (final, dumps, _) = timedRun(graph, printAfter: printAfter, printAfterAll: printAfterAll)
    return (final, dumps)
  }

  /// `run`, also measuring each pass (verification excluded): `--time-passes`.
  public func timedRun(_ graph: Graph, printAfter: Set<String> = [], printAfterAll: Bool = false)
    -> (Graph, [(pass: String, graph: Graph)], [(pass: String, seconds: Double)])
  {
    var current = graph
    var dumps: [(String, Graph)] = []
    var times: [(String, Double)] = []
    let clock = ContinuousClock()
    for pass in pipeline {
      let elapsed = clock.measure { current = pass.run(current) }
      times.append((pass.name, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18))
      if verify { Verifier.verify(current, after: pass.name) }
      if printAfterAll || printAfter.contains(pass.name) { dumps.append((pass.name, current)) }
    }
    return (current, dumps, times)
  }

  /// The `--time-passes` table: pass, milliseconds, share.
  public static func timingReport(_ times: [(pass: String, seconds: Double)]) -> String {
    let total = max(times.reduce(0) { $0 + $1.seconds }, 1e-12)
    var out = "pass                         ms   share\n"
    for (pass, seconds) in times {
      out += pass.padding(toLength: 22, withPad: " ", startingAt: 0)
        + String(format: "%10.3f  %5.1f%%\n", seconds * 1e3, 100 * seconds / total)
    }
    return out + "total".padding(toLength: 22, withPad: " ", startingAt: 0) + String(format: "%10.3f\n", total * 1e3)
  }
}

/// Walks the graph once, redirecting operands as it goes: `redirect` may rewrite the node at an index (its operands
/// already redirected) and returns the value its users should read instead — the node is then dropped — or nil to keep
/// it. Outputs follow the redirections; what no output needs any more is removed.
func bypassing(_ graph: Graph, _ redirect: (inout Graph, Int) -> Int?) -> Graph {
  var result = graph
  var replacement = Array(graph.nodes.indices)
  var keep = Array(repeating: true, count: graph.nodes.count)
  for index in result.nodes.indices {
    result.nodes[index].operands = result.nodes[index].operands.map { replacement[$0] }
    if let target = redirect(&result, index) {
      replacement[index] = target
      keep[index] = false
    }
  }
  result.outputs = result.outputs.map { GraphOutput(name: $0.name, value: replacement[$0.value]) }
  return deadCodeElimination.run(result.keeping(keep))
}
