import DanluCodegen
import DanluDiagnostics
import DanluDriver
import DanluIR
import DanluTestSupport
import Foundation
import Testing

/// Single-row products reading packed panels (a graph of them: `PackedPanels.singleRowsFrom`): 272 outputs of depth
/// 901 (eight 32-wide panels and a 16-wide one, two parts; depth not a multiple of the four partial sums), then 48
/// (one part, panels of 32 and 16), then 10 (not whole vectors: left to `sgemv`), with the fused bias and relu and,
/// without the fuse pass, as plain products. Each model runs twice, so that the panels go forwards and then
/// backwards, on one thread and two, against the interpreter. The first product carries 95% of the multiply-adds, so
/// the binary's threads spin between regions (`CEmitter.spinsBetweenRegions`).
@Suite struct PackedMatrixVectorTests {
  @Test(arguments: [false, true])
  func packedSingleRowsAgreeWithTheInterpreter(unfused: Bool) throws {
    let (graph, set, inputs, expected) = try Oracle.threadedCase("vector", """
      model: vector
      inputs:
        x: f32[1, 901]
      layers:
        - linear(272)
        - relu
        - linear(48)
        - relu
        - linear(10)
      """)
    let passes = unfused ? ["strip-dropout", "canonicalize-reshapes", "cse", "dce", "pack-weights", "plan-memory"] : nil
    let optimized = Pipeline.optimize(graph, passes: try Pipeline.passes(passes))
    let products = optimized.nodes.indices.compactMap { optimized.packedMatmul($0) }
    #expect(products.count == 2)
    #expect(products.first! == (rows: 1, columns: 272, depth: 901, parts: 2))
    #expect(products.last! == (rows: 1, columns: 48, depth: 272, parts: 1))
    let source = CEmitter.emit(optimized, source: "vector")
    #expect(source.components(separatedBy: "danlu_panel_vector(a, w + n0 * ").count == 3)
    #expect(source.contains(CEmitter.spinWorkersCall))
    for (floats, threads) in Oracle.registerFloats.flatMap({ f in [1, 2].map { (f, $0) } }) {
      let runs = try Commands.inProcess(source, "vector", defines: ["DANLU_REGISTER_FLOATS=\(floats)"]) {
        (model) throws(DiagnosticError) in
        model.setThreads(threads)
        return [try model.run(inputs: inputs, weights: set), try model.run(inputs: inputs, weights: set)]
      }
      for (index, outputs) in runs.enumerated() {
        let actual = try #require(outputs.values.first)
        #expect(actual.relativeError(to: expected) < 1e-5, "\(floats)-float registers, threads \(threads), run \(index + 1)")
      }
    }
  }
}
