import DanluCodegen
import DanluDriver
import DanluIR
import DanluPasses
import DanluTestSupport
import Foundation
import Testing

/// Winograd over items of tile rows with filters transformed at load time (`WinogradBlocks`) against the interpreter,
/// on one thread and two and with both register widths.
@Suite struct WinogradBlockedTests {
  /// A lone 45×13 image (a partial last tile row and column): 48 filters (panels of 32 and 16) with batch norm and
  /// relu fused, in items of 4 tile rows (the last of 3); then an unpadded convolution (43×11 out) and a residual one
  /// reading it, both of 32 filters; then a stride-2 direct convolution and a Winograd one reading its output (22×6:
  /// items of 9 tile rows and 2), which stays NCHW as every other tensor.
  @Test func oneImageAgreesWithTheInterpreter() throws {
    let path = Repository.temporaryFolder().appendingPathComponent("winograd.yaml").path
    try """
      model: winograd
      inputs:
        x: f32[1, 16, 45, 13]
      layers:
        - c1: conv2d(48, kernel=3, padding=1, bias=false)
        - bn: batchnorm2d
        - relu
        - c2: conv2d(32, kernel=3)
        - c3: conv2d(32, kernel=3, padding=1, bias=false)
        - add(., c2)
        - relu
        - c4: conv2d(32, kernel=3, padding=1, stride=2)
        - c5: conv2d(16, kernel=3, padding=1)
      """.write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions())
    let optimized = Pipeline.optimize(graph, passes: try Pipeline.passes(nil))
    let convolutions = optimized.nodes.indices.filter { optimized.forwardConvolution($0) != nil }
    let blocks = convolutions.compactMap { optimized.winogradBlocks($0) }
    #expect(blocks.map(\.outputChannels) == [48, 32, 32, 16], "\(IRPrinter.print(optimized))")
    #expect(blocks.map(\.items) == [6, 6, 6, 2] && blocks.map(\.rowsPerItem) == [4, 4, 4, 9])
    // Each reads its own transformed filters: 16 floats a filter where the weight has 9.
    for index in convolutions where optimized.winogradBlocks(index) != nil {
      let pack = optimized.nodes[index].operands[1]
      let w = try #require(optimized.nodes[pack].type.staticShape)
      #expect(optimized.nodes[pack].op == .packPanels && optimized.storedFloats(pack) == 16 * w[0] * w[1])
    }
    #expect(optimized.nodes.allSatisfy { $0.type.layout == .nchw })
    let source = CEmitter.emit(optimized, source: "winograd")
    #expect(source.components(separatedBy: "danlu_panel_block(V + k * ").count == 5 && !source.contains("cblas_sgemm"))
    #expect(source.contains("y[(r * 4 + s) * 768 + n0 * 16 + i * width + (o - n0)] = u[s];"))
    let (expected, runs) = try Oracle.againstInterpreter(model, graph, source: source, name: "winograd", output: "output",
                                                         seeds: (31, 32))
    for (run, actual) in runs {
      #expect(actual.shape == expected.shape)
      #expect(actual.relativeError(to: expected) < 1e-5, "\(run): \(actual.relativeError(to: expected))")
    }
  }
}
