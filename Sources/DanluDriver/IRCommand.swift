import DanluDiagnostics
import DanluIR
import DanluPasses

public enum IRFormat: String, CaseIterable, Sendable { case text, dot, json }

extension Commands {
  /// `danlu ir`: the graph after the whole pipeline, after one pass (`frontend` is the graph as built), or after
  /// every pass with a header line before each.
  public static func ir(_ path: String, _ options: BuildOptions, after: String?, printAfterAll: Bool,
                        format: IRFormat) throws(DriverFailure) -> String {
    let (model, loader) = try load(path, options)
    let pipeline: [Pass]
    do throws(DiagnosticError) {
      pipeline = try Pipeline.passes(options.passes)
      if let after, after != "frontend", !pipeline.contains(where: { $0.name == after }) {
        _ = try Pipeline.passes([after])  // an unknown name gets its diagnostic here
        throw DiagnosticError(.passNotInPipeline(after, pipeline: pipeline.map(\.name)), at: .unknown)
      }
    } catch {
      throw DriverFailure(loader.renderer.render(error))
    }
    let frontendGraph = model.graph.binding(model.bindings)
    let (final, dumps, times) = PassManager(pipeline).timedRun(frontendGraph, printAfter: after.map { [$0] } ?? [],
                                                                printAfterAll: printAfterAll)
    if options.timePasses { FileHandleOutput.standardError(PassManager.timingReport(times)) }
    func render(_ graph: Graph) -> String {
      switch format {
      case .text: return IRPrinter.print(graph)
      case .dot: return GraphExport.dot(graph)
      case .json: return GraphExport.json(graph)
      }
    }
    if printAfterAll {
      let all = [("frontend", frontendGraph)] + dumps.map { ($0.pass, $0.graph) }
      return all.map { "// ----- IR after \($0.0) -----\n" + render($0.1) }.joined(separator: "\n")
    }
    if after == "frontend" { return render(frontendGraph) }
    return render(dumps.first?.graph ?? final)
  }
}
