import DanluCodegen
import DanluDriver
import DanluIR
import DanluPasses
import DanluTestSupport
import Foundation
import Testing

/// Direct convolutions (`DirectConvolution`) against the interpreter, on one thread and two.
@Suite struct DirectConvolutionTests {
  /// Every convolution with unit column stride forced direct, whatever `prefer-direct` would choose, so that the
  /// loops meet what the pass keeps out too: a 5×5 padded filter with batch norm and relu fused, a dilated one with a
  /// residual, rows of 37 and 13 columns (a second, partial chunk of two vectors; one vector), a row stride of 2,
  /// groups of 4 and depthwise filters, 16 output channels in blocks (of 8 with two vectors of columns, of 16 with
  /// one). One image on one part, one image split into two parts' items, and a batch whose images alternate between
  /// two parts.
  @Test(arguments: [(batch: 1, channels: 3, height: 28, width: 28, parts: 1),
                    (batch: 3, channels: 3, height: 11, width: 37, parts: 1),
                    (batch: 1, channels: 8, height: 64, width: 64, parts: 2),
                    (batch: 4, channels: 8, height: 40, width: 13, parts: 2)])
  func directConvolutionsAgreeWithTheInterpreter(_ size: (batch: Int, channels: Int, height: Int, width: Int, parts: Int))
    throws
  {
    let path = Repository.temporaryFolder().appendingPathComponent("direct.yaml").path
    let c = size.channels
    try """
      model: direct
      inputs:
        x: f32[N, \(c), \(size.height), \(size.width)]
      layers:
        - c1: conv2d(6, kernel=5, padding=2)
        - bn: batchnorm2d
        - relu
        - c2: conv2d(\(c), kernel=3, padding=2, dilation=2, bias=false)
        - add(., x)
        - c3: conv2d(16, kernel=3, padding=1)
        - c4: conv2d(8, kernel=3, padding=(0, 1), stride=(2, 1), groups=4)
        - c5: conv2d(8, kernel=3, padding=1, groups=8)
      """.write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions(batch: size.batch))
    let fused = Pipeline.optimize(graph, passes: try Pipeline.passes(["canonicalize-reshapes", "cse", "dce", "fuse"]))
    // In the text IR a plain convolution's attributes start at dilation, a fused one's at its anchor.
    let forced = try IRParser.parse(IRPrinter.print(fused)
      .replacingOccurrences(of: "{anchor=\"conv2d\"", with: "{algorithm=\"direct\" anchor=\"conv2d\"")
      .replacingOccurrences(of: ") {dilation=", with: ") {algorithm=\"direct\" dilation="))
    let optimized = Pipeline.optimize(forced, passes: try Pipeline.passes(["prefer-direct", "plan-memory"]))
    let printed = IRPrinter.print(optimized)
    #expect(printed.components(separatedBy: "algorithm=\"direct\"").count == 6, "\(printed)")
    let source = CEmitter.emit(optimized, source: "direct")
    #expect(source.contains("float *plane = ") && !source.contains("cblas_sgemm"))
    #expect(source.contains("#pragma omp parallel num_threads(parts)") == (size.parts > 1))
    // A lone image's items are claimed by the parts as they go; a batch's images alternate between them.
    #expect(source.contains("item = danlu_claim_item(claims, part, ") == (size.batch == 1 && size.parts > 1))
    let (expected, runs) = try Oracle.againstInterpreter(model, graph, source: source, name: "direct", output: "output",
                                                         seeds: (11, 12))
    for (run, actual) in runs {
      #expect(actual.shape == expected.shape)
      #expect(actual.relativeError(to: expected) < 1e-5, "\(run): \(actual.relativeError(to: expected))")
    }
  }

  /// Direct by filters (packed, `danlu_panel_taps`) from the default pipeline: 48 filters (a 32-wide panel and a
  /// 16-wide one) of a padded 3×3 over 16 channels with batch norm and relu fused, then 64 filters of a strided,
  /// dilated 3×3 with a bias, then 64 of a 3×3 with a residual; rows of 21 and 11 positions (blocks of 11 and 10, one
  /// of 11); with 8-float registers (`danlu_panel_gather`) blocks of positions across rows, 441 as 8 blocks of 55–56
  /// and 121 as 3 of 40–41. One image split between two parts' items, and three images alternating.
  @Test(arguments: [(batch: 1, parts: 2), (batch: 3, parts: 2)])
  func directConvolutionsByFiltersAgreeWithTheInterpreter(_ size: (batch: Int, parts: Int)) throws {
    let path = Repository.temporaryFolder().appendingPathComponent("filters.yaml").path
    try """
      model: filters
      inputs:
        x: f32[N, 16, 21, 21]
      layers:
        - c1: conv2d(48, kernel=3, padding=1, bias=false)
        - bn: batchnorm2d
        - relu
        - c2: conv2d(64, kernel=3, padding=2, stride=2, dilation=2)
        - c3: conv2d(64, kernel=3, padding=1)
        - add(., c2)
      """.write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions(batch: size.batch))
    // Winograd would take c1 and c3 of the lone image (`WinogradBlocks`).
    let optimized = Pipeline.optimize(graph, passes: try Pipeline.passes(Oracle.inferenceWithout("prefer-winograd")))
    let directs = optimized.nodes.indices.compactMap { optimized.directConvolution($0) }
    #expect(directs.count == 3 && directs.allSatisfy { $0.filters && $0.parts == size.parts }, "\(directs)")
    let source = CEmitter.emit(optimized, source: "filters")
    #expect(source.components(separatedBy: "danlu_panel_taps(row + x0 * ").count == 4 && !source.contains("cblas_sgemm"))
    #expect(source.components(separatedBy: "danlu_panel_gather(plane, offsets, taps, ").count == 4)
    #expect(source.contains("item = danlu_claim_item(claims, part, ") == (size.batch == 1))
    let (expected, runs) = try Oracle.againstInterpreter(model, graph, source: source, name: "filters", output: "output",
                                                         seeds: (13, 14))
    for (run, actual) in runs {
      #expect(actual.shape == expected.shape)
      #expect(actual.relativeError(to: expected) < 1e-5, "\(run): \(actual.relativeError(to: expected))")
    }
  }

  /// The default pipeline runs both of LeNet-5's convolutions direct: the first (6 filters) by rows, the second (16
  /// filters of 150 weights) by filters; the model still agrees with the interpreter.
  @Test func lenet5TakesDirectLoops() throws {
    let (model, graph) = try Oracle.graph(Repository.path("Models/lenet5.yaml"), BuildOptions(batch: 2))
    let optimized = Pipeline.optimize(graph, passes: try Pipeline.passes(nil))
    let directs = optimized.nodes.indices.compactMap { optimized.directConvolution($0) }
    #expect(directs.map(\.filters) == [false, true])
    let (expected, runs) = try Oracle.againstInterpreter(model, graph, source: CEmitter.emit(optimized, source: "lenet5"),
                                                         name: "lenet5", output: "logits", seeds: (3, 4))
    for (run, actual) in runs {
      #expect(actual.relativeError(to: expected) < 1e-5, "\(run)")
    }
  }
}
