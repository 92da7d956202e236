import DanluIR

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
  public static let all: [Pass] = [canonicalizeReshapes, deadCodeElimination, fuse, planMemory]

  public static let inference: [Pass] = [canonicalizeReshapes, deadCodeElimination, fuse, planMemory]

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
    var current = graph
    var dumps: [(String, Graph)] = []
    for pass in pipeline {
      current = pass.run(current)
      if verify { Verifier.verify(current, after: pass.name) }
      if printAfterAll || printAfter.contains(pass.name) { dumps.append((pass.name, current)) }
    }
    return (current, dumps)
  }
}
