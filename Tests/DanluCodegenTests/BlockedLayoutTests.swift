import DanluCodegen
import DanluDriver
import DanluIR
import DanluPasses
import DanluTestSupport
import Foundation
import Testing

/// Activations in `Layout.nchw8c` (`choose-layout`) between direct convolutions by filters, against the
/// interpreter (which knows no layouts), on one thread and two and with both register widths.
@Suite struct BlockedLayoutTests {
  /// Residual blocks as in ResNet: a fused convolution with a bias and an unfused one (48 filters: panels of 32 and
  /// 16) in front, then blocks whose convolutions read and write blocked tensors, an im2col (the 1×1 stride-2
  /// downsampling) reading one, a blocked output adding an NCHW residual (the downsampling's) and the last, NCHW
  /// output (the graph's) adding a blocked one. One image (the parts claim a shared plane's items) and two.
  @Test(arguments: [1, 2])
  func residualBlocksAgreeWithTheInterpreter(_ batch: Int) throws {
    let path = Repository.temporaryFolder().appendingPathComponent("blocked.yaml").path
    try """
      model: blocked
      inputs:
        x: f32[N, 16, 18, 18]
      blocks:
        Block(planes, stride=1, down=false):
          - conv1: conv2d(planes, kernel=3, stride=stride, padding=1, bias=false)
          - bn1: batchnorm2d
          - relu
          - conv2: conv2d(planes, kernel=3, padding=1, bias=false)
          - downsample: conv2d(planes, kernel=1, stride=stride, bias=false)(input) if down else input
          - add(conv2, downsample)
          - relu
      layers:
        - stem: conv2d(32, kernel=3, padding=1)
        - c: conv2d(48, kernel=3, padding=1, bias=false)
        - b1: Block(48)
        - b2: Block(64, stride=2, down=true)
        - b3: Block(64)
      """.write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions(batch: batch))
    // Winograd would take the lone image's stride-1 convolutions (`WinogradBlocks`; WinogradBlockedTests).
    let optimized = Pipeline.optimize(graph, passes: try Pipeline.passes(Oracle.inferenceWithout("prefer-winograd")))
    let blocked = optimized.nodes.filter { $0.type.layout == .nchw8c }.map(\.name)
    #expect(blocked == ["stem", "c", "b1.conv1", "b1.conv2", "b2.conv1", "b2.conv2", "b3.conv1"], "\(blocked)")
    #expect(optimized.outputs.allSatisfy { optimized.nodes[$0.value].type.layout == .nchw })
    let source = CEmitter.emit(optimized, source: "blocked")
    // The im2col reads the blocked input 8 floats a column; residuals in the other layout are read at pidx and bidx.
    #expect(source.contains("out[ox] = src[(ox * 2 + ix0) * 8];"))
    #expect(source.contains("const long pidx = ") && source.contains("const long bidx = "))
    #expect(source.contains("item = danlu_claim_item(claims, part, ") == (batch == 1))
    let (expected, runs) = try Oracle.againstInterpreter(model, graph, source: source, name: "blocked", output: "output",
                                                         seeds: (21, 22))
    for (run, actual) in runs {
      #expect(actual.shape == expected.shape)
      #expect(actual.relativeError(to: expected) < 1e-5, "\(run): \(actual.relativeError(to: expected))")
    }
  }

  /// Max pools in every pairing of layouts: NCHW in and blocked out (reading the graph's input), blocked both ways
  /// (a 5×5 window on two threads), blocked in and NCHW out (the graph's output, with ceil-mode overhang), around two
  /// direct convolutions by filters (5×5 and dilated, which Winograd leaves to them at batch 2 too); at batch 1 and 2.
  /// `choose-layout` blocks the pools' outputs that a convolution reads; the convolutions' outputs, which only pools
  /// read, are then blocked by hand (legal, the verifier says, though not chosen) so that every pairing runs.
  @Test(arguments: [1, 2])
  func maxPoolsAgreeWithTheInterpreter(_ batch: Int) throws {
    let path = Repository.temporaryFolder().appendingPathComponent("pools.yaml").path
    try """
      model: pools
      inputs:
        x: f32[N, 16, 40, 40]
      layers:
        - p0: maxpool2d(3, stride=1, padding=1)
        - a: conv2d(32, kernel=5, padding=2)
        - p1: maxpool2d(5, stride=1, padding=2)
        - b: conv2d(32, kernel=3, padding=2, dilation=2, bias=false)
        - p2: maxpool2d(3, stride=2, ceil_mode=true)
      """.write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions(batch: batch))
    var optimized = Pipeline.optimize(graph, passes: try Pipeline.passes(nil))
    #expect(optimized.nodes.filter { $0.type.layout == .nchw8c }.map(\.name) == ["p0", "p1"])
    for index in optimized.nodes.indices where ["a", "b"].contains(optimized.nodes[index].name)
      && optimized.forwardConvolution(index) != nil {
      optimized.nodes[index].type.layout = .nchw8c
    }
    #expect(optimized.nodes.filter { $0.type.layout == .nchw8c }.map(\.name) == ["p0", "a", "p1", "b"])
    #expect(Verifier.problems(optimized).isEmpty)
    let source = CEmitter.emit(optimized, source: "pools")
    #expect(source.components(separatedBy: "float m[8];").count == 4)
    let (expected, runs) = try Oracle.againstInterpreter(model, graph, source: source, name: "pools", output: "output",
                                                         seeds: (23, 24))
    for (run, actual) in runs {
      #expect(actual.shape == expected.shape)
      #expect(actual.relativeError(to: expected) < 1e-5, "\(run): \(actual.relativeError(to: expected))")
    }
  }
}
