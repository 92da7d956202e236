import DanluCodegen
import DanluDiagnostics
import DanluDriver
import DanluIR
import DanluPasses
import DanluRuntime
import DanluTestSupport
import Foundation
import Testing

@Suite struct CodegenTests {
  /// Generated C against ONNX Runtime's outputs for the same weights.
  @Test(arguments: Repository.goldenCases)
  func matchesONNXRuntime(_ name: String) throws {
    let golden = try GoldenCase(name)
    let expected = golden.expected
    let output = try #require(try Oracle.compiled(golden.graph, golden.inputs, golden.weights)["output"])
    #expect(output.shape == expected.shape)
    #expect(output.relativeError(to: expected) < 1e-5, "\(name): \(output.relativeError(to: expected))")
  }

  /// Batch norm folded into the weights (computed by the generated `prepare` at load time), against ONNX Runtime:
  /// a conv with a bias then batch norm, and a residual block whose convs have none.
  @Test(arguments: ["conv_bias_batchnorm", "residual_block"])
  func foldedBatchNormMatchesONNXRuntime(_ name: String) throws {
    let golden = try GoldenCase(name)
    let passes = ["canonicalize-reshapes", "fold-batchnorm", "fold-constants", "cse", "dce", "fuse", "plan-memory"]
    let folded = Pipeline.optimize(golden.graph, passes: try Pipeline.passes(passes))
    #expect(IRPrinter.print(folded).contains("// computed once at load time:"), "\(name): nothing was folded")
    let output = try #require(try Oracle.compiled(golden.graph, ["x": golden.input], golden.weights, passes: passes)["output"])
    #expect(output.relativeError(to: golden.expected) < 1e-5, "\(name): \(output.relativeError(to: golden.expected))")
  }

  /// Every model in Models/: the interpreter and generated C agree on fresh random inputs and seeded weights.
  /// Spatial sizes are bound small so the naive interpreter stays quick in debug builds.
  @Test(arguments: Repository.models)
  func agreesWithTheInterpreter(_ name: String) throws {
    let (graph, inputs, weights, expected, seed) = try Self.modelCase(name)
    let actual = try Oracle.compiled(graph, inputs, weights)
    for output in graph.outputs {
      let (a, e) = (try #require(actual[output.name]), try #require(expected[output.name]))
      #expect(a.shape == e.shape)
      #expect(a.relativeError(to: e) < 1e-4, "\(name) seed \(seed): \(a.relativeError(to: e))")
      #expect(e.data.contains { $0 != 0 }, "an all-zero reference proves nothing")
    }
  }

  /// A model of Models/ at small sizes with seeded weights and fresh random inputs (token ids for the language
  /// models), and the interpreter's outputs for them.
  static func modelCase(_ name: String) throws
    -> (graph: Graph, inputs: [String: Tensor], weights: WeightSet, expected: [String: Tensor], seed: UInt64)
  {
    let options = BuildOptions(batch: name == "vgg16" ? 1 : 2, bindings: smallDims(name))
    let (model, graph) = try Oracle.graph(Repository.path("Models/\(name).yaml"), options)
    let seed = UInt64.random(in: 1...1_000_000)
    let weights = graph.initialWeights(model.initializers, seed: seed)
    var inputs = Oracle.randomInputs(graph, seed: seed)
    if ["char_lm", "seq2seq_attention"].contains(name) {
      // Token ids: integers below the smaller vocabulary (32).
      inputs = inputs.mapValues { Tensor(shape: $0.shape, data: $0.data.map { (abs($0) * 1000).rounded().truncatingRemainder(dividingBy: 32) }) }
    }
    let expected = try Oracle.interpret(graph, inputs, weights)
    return (graph, inputs, WeightSet(weights.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }), expected, seed)
  }

  /// Small sizes for a model's symbolic dimensions so that the naive interpreter stays quick in debug builds.
  static func smallDims(_ name: String) -> [String: Int] {
    switch name {
    case "resnet18", "resnet50", "vgg16": return ["H": 32, "W": 32]
    case "lstm", "gru", "rnn": return ["T": 6]
    case "transformer", "seq2seq_attention": return ["S": 5, "T": 4]
    case "transformer_encoder_layer", "transformer_encoder", "char_lm": return ["S": 5]
    default: return [:]
    }
  }

  /// Winograd F(2×2, 3×3) of a batch against the interpreter: odd sizes (partial tiles, rows of tiles that are not a
  /// whole number of vectors), a fused epilogue, a residual, on one thread and two. The first convolution's 24
  /// filters are not whole vectors: OpenBLAS's products over 20×17 images in two groups of 6, and over 9×11 images
  /// with padding 2 in groups of 13 whose last holds 10; the second's 16 (padding 0 on the 9×11) take items of tile
  /// rows image by image (`WinogradBlocks`).
  @Test(arguments: [(height: 20, width: 17, batch: 12, padding: 1), (height: 9, width: 11, batch: 23, padding: 2)])
  func winogradAgreesWithTheInterpreter(_ size: (height: Int, width: Int, batch: Int, padding: Int)) throws {
    let folder = Repository.temporaryFolder()
    let path = folder.appendingPathComponent("wino.yaml").path
    let p = size.padding
    try """
      model: wino
      inputs:
        x: f32[N, 16, \(size.height), \(size.width)]
      layers:
        - c1: conv2d(24, kernel=3, padding=\(p))
        - bn: batchnorm2d
        - relu
        - c2: conv2d(16, kernel=3, padding=\(2 - p), bias=false)
        - add(., x)
      """.write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions(batch: size.batch))
    let optimized = Pipeline.optimize(graph, passes: try Pipeline.passes(nil))  // the default pipeline chooses it
    #expect(IRPrinter.print(optimized).components(separatedBy: "algorithm=\"winograd\"").count == 3)
    let source = CEmitter.emit(optimized, source: "wino")
    #expect(source.contains("#pragma omp parallel num_threads(parts)"))
    #expect(source.components(separatedBy: "cblas_sgemm(").count == 2 && source.contains("danlu_panel_block(V + k * "))
    let (expected, runs) = try Oracle.againstInterpreter(model, graph, source: source, name: "wino", output: "output",
                                                         seeds: (5, 6))
    for (run, actual) in runs {
      #expect(actual.relativeError(to: expected) < 1e-4, "\(run)")
    }
  }

  /// The ways `ConvTiling` walks a convolution (`prefer-direct` left out: it would take most of these by filters),
  /// against the interpreter, on one thread and two: small images sharing one GEMM (10 images of 10×10 by 16, so the
  /// last GEMM has 2; the stride-2 conv takes all 10), one 34×34 image cut into two blocks of rows, two 48×48 images
  /// one per thread (12 channels: too few for Winograd), two 64×64 images in two blocks of rows each, and one 9×9
  /// image of 64 channels split by output channels. A fused batch norm, activation and residual ride on each.
  @Test(arguments: [(height: 10, batch: 10, channels: 16, marker: "staged", dump: "// images per convolution GEMM: %"),
                    (height: 34, batch: 1, channels: 16, marker: "const long width = (oy1 - oy0)", dump: nil),
                    (height: 48, batch: 2, channels: 12, marker: "const long n = item / 1, block = item % 1;", dump: nil),
                    (height: 64, batch: 2, channels: 12, marker: "const long n = item / 2, block = item % 2;", dump: nil),
                    (height: 9, batch: 1, channels: 64, marker: "#pragma omp barrier",
                     dump: "// convolutions split by output channels: %")])
  func tiledConvolutionsAgreeWithTheInterpreter(_ tiles: (height: Int, batch: Int, channels: Int, marker: String, dump: String?))
    throws
  {
    let path = Repository.temporaryFolder().appendingPathComponent("tiles.yaml").path
    try """
      model: tiles
      inputs:
        x: f32[N, \(tiles.channels), H, H]
      layers:
        - c1: conv2d(\(tiles.channels), kernel=3, padding=1)
        - bn: batchnorm2d
        - relu
        - c2: conv2d(\(tiles.channels), kernel=3, padding=1, bias=false)
        - add(., x)
        - c3: conv2d(8, kernel=3, stride=2)
      """.write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions(batch: tiles.batch, bindings: ["H": tiles.height]))
    // Without Winograd too: the lone 34×34 image's convolutions would take `WinogradBlocks`.
    let optimized = Pipeline.optimize(graph, passes: try Pipeline.passes(Oracle.inferenceWithout("prefer-direct", "prefer-winograd")))
    let source = CEmitter.emit(optimized, source: "tiles")
    #expect(source.contains(tiles.marker))
    if let dump = tiles.dump { #expect(IRPrinter.print(optimized).contains(dump)) }
    let (expected, runs) = try Oracle.againstInterpreter(model, graph, source: source, name: "tiles", output: "output",
                                                         seeds: (7, 8))
    for (run, actual) in runs {
      #expect(actual.shape == expected.shape)
      #expect(actual.relativeError(to: expected) < 1e-5, "\(run): \(actual.relativeError(to: expected))")
    }
  }

  /// Single-row products small enough to be loops instead of BLAS calls (`KernelEmitter.smallMatrixVector`), both
  /// orientations, depths that are not a multiple of 16, plain and with a fused bias: against the interpreter.
  @Test func smallMatrixVectorLoopsAgreeWithTheInterpreter() throws {
    let graph = try IRParser.parse("""
      graph small {
        %0 = input {name="x"} : f32[1,37]  # l
        %1 = param {name="a"} : f32[21,37]  # l
        %2 = matmul(%0, %1) {transpose_b=true} : f32[1,21]  # l
        %3 = param {name="bias"} : f32[21]  # l
        %4 = bias_add(%2, %3) {axis=1} : f32[1,21]  # l
        %5 = param {name="b"} : f32[21,45]  # l
        %6 = matmul(%4, %5) {transpose_b=false} : f32[1,45]  # l
        %7 = param {name="c"} : f32[3,45]  # l
        %8 = matmul(%6, %7) {transpose_b=true} : f32[1,3]  # l
        output y = %8
      }
      """)
    let optimized = Pipeline.optimize(graph, passes: try Pipeline.passes(nil))
    let source = CEmitter.emit(optimized, source: "small")
    #expect(source.components(separatedBy: "float lanes[16]").count == 3 && !source.contains("cblas_sgemv"))
    let weights = ["a": Tensor.random([21, 37], seed: 1), "bias": Tensor.random([21], seed: 2),
                   "b": Tensor.random([21, 45], seed: 3), "c": Tensor.random([3, 45], seed: 4)]
    let inputs = ["x": Tensor.random([1, 37], seed: 5)]
    let expected = try Oracle.interpret(graph, inputs, weights)["y"]!
    let set = WeightSet(weights.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    let actual = try Commands.inProcess(source, "small") { (compiled) throws(DiagnosticError) in
      try compiled.run(inputs: inputs, weights: set)
    }["y"]!
    #expect(actual.relativeError(to: expected) < 1e-5, "\(actual.relativeError(to: expected))")
  }

  /// The emitted C for a small model is part of the contract (STYLE 13). Set DANLU_UPDATE_SNAPSHOTS=1 to rewrite.
  @Test func lenet5SourceMatchesItsSnapshot() throws {
    let (_, graph) = try Oracle.graph(Repository.path("Models/lenet5.yaml"), BuildOptions(batch: 1))
    let source = CEmitter.emit(Pipeline.optimize(graph, passes: try Pipeline.passes(nil)), source: "Models/lenet5.yaml")
      .replacingOccurrences(of: Repository.root.path + "/", with: "")
    let path = Repository.path("Tests/Fixtures/snapshots/lenet5.c")
    if ProcessInfo.processInfo.environment["DANLU_UPDATE_SNAPSHOTS"] != nil {
      try source.write(toFile: path, atomically: true, encoding: .utf8)
    }
    let snapshot = try String(contentsOfFile: path, encoding: .utf8)
    #expect(source == snapshot, "the generated C changed; rerun with DANLU_UPDATE_SNAPSHOTS=1 and review the diff")
  }

  @Test func kernelsAreNamedAfterLayerPaths() throws {
    let (_, graph) = try Oracle.graph(Repository.path("Models/resnet18.yaml"), BuildOptions(batch: 1, bindings: ["H": 32, "W": 32]))
    let source = CEmitter.emit(graph, source: "resnet18.yaml")
    #expect(source.contains("_layer2_0_downsample_0(const float *const *params"))
    #expect(source.contains("cblas_sgemm"))
    #expect(source.contains("const danlu_model danlu_model_resnet18 = {"))
  }
}

/// An embedding index outside the table (or not an integer) gives a row of NaN in both the interpreter and generated
/// C, never a neighbouring row or memory outside the table.
@Suite struct EmbeddingBoundsTests {
  @Test func badIndicesGiveNaNRows() throws {
    let path = Repository.temporaryFolder().appendingPathComponent("emb.yaml").path
    try "model: emb\ninputs:\n  x: f32[5]\nlayers:\n  - e: embedding(4, 2)\n".write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions())
    let weights = graph.initialWeights(model.initializers, seed: 3)
    let x = Tensor(shape: [5], data: [3, 7, -1, 1.5, 0])
    let table = weights["e.weight"]!.data
    let interpreted = try #require(try Oracle.interpret(graph, ["x": x], weights).values.first)
    let compiled = try #require(try Oracle.compiled(graph, ["x": x], WeightSet(weights.map { ($0.key, $0.value) })).values.first)
    for output in [interpreted, compiled] {
      #expect(output.shape == [5, 2])
      #expect(Array(output.data[0..<2]) == Array(table[6..<8]) && Array(output.data[8..<10]) == Array(table[0..<2]))
      #expect(output.data[2..<8].allSatisfy { $0.isNaN })
    }
  }
}

/// Max pooling with its planes on two threads (over 2M window reads), both loop forms, on one thread and two.
/// Max pools on one thread and two against the interpreter, by each of their loops: separable (a padded pool whose
/// rows of maxima fit `separableFloats`, and one in ceil mode whose last windows overhang), by rows (a plane too large
/// for that buffer) and by windows (unpadded, inside the input).
@Suite struct MaxPoolPartsTests {
  @Test(arguments: [(channels: 16, size: 96, layer: "maxpool2d(3, stride=2, padding=1)", separable: true),
                    (channels: 8, size: 96, layer: "maxpool2d(3, stride=2, padding=1, ceil_mode=true)", separable: true),
                    (channels: 1, size: 256, layer: "maxpool2d(3, stride=1, padding=1)", separable: false),
                    (channels: 32, size: 96, layer: "maxpool2d(2)", separable: false)])
  func maxPoolInPartsAgreesWithTheInterpreter(_ pool: (channels: Int, size: Int, layer: String, separable: Bool)) throws {
    let path = Repository.temporaryFolder().appendingPathComponent("pool.yaml").path
    try """
      model: pool
      inputs:
        x: f32[8, \(pool.channels), \(pool.size), \(pool.size)]
      layers:
        - p: \(pool.layer)
      """.write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions())
    let weights = graph.initialWeights(model.initializers, seed: 5)
    let inputs = Oracle.randomInputs(graph, seed: 6)
    let expected = try #require(try Oracle.interpret(graph, inputs, weights).values.first)
    let source = CEmitter.emit(Pipeline.optimize(graph, passes: try Pipeline.passes(nil)), source: "pool")
    #expect(source.contains("for (long plane = part; plane < \(8 * pool.channels); plane += parts)"))
    #expect(source.contains("float rows[") == pool.separable)
    let set = WeightSet(weights.map { ($0.key, $0.value) })
    for (run, outputs) in try Oracle.onOneThreadAndTwo(source, "pool", inputs, set) {
      let actual = try #require(outputs.values.first)
      #expect(actual.relativeError(to: expected) == 0, "\(run)")
    }
  }
}

/// Loops over enough work (`LoopParts`) on two threads: a fused elementwise chain, a GEMM's epilogue, layer norm and
/// softmax rows (and, without the fuse pass, standalone activations), on one thread and two, against the interpreter.
@Suite struct LoopPartsTests {
  @Test(arguments: [false, true])
  func loopsInPartsAgreeWithTheInterpreter(unfused: Bool) throws {
    let (graph, set, inputs, expected) = try Oracle.threadedCase("loops", """
      model: loops
      inputs:
        x: f32[1024, 64, 16]
        r: f32[1024, 64, 16]
      layers:
        - s: add(x, r)
        - gelu
        - linear(16)
        - sigmoid
        - layer_norm(16)
        - softmax
      """)
    let passes = unfused ? ["strip-dropout", "canonicalize-reshapes", "cse", "dce", "plan-memory"] : nil
    let optimized = Pipeline.optimize(graph, passes: try Pipeline.passes(passes))
    let split = optimized.nodes.indices.filter { optimized.loopParts($0) > 1 }
    // Fused: add+gelu, the GEMM's bias+sigmoid, layer norm, softmax; unfused: gelu, sigmoid, layer norm, softmax.
    #expect(split.count == 4)
    #expect(IRPrinter.print(optimized).contains("// loops on two threads:" + split.map { " %\($0)" }.joined() + "\n"))
    let source = CEmitter.emit(optimized, source: "loops")
    #expect(source.components(separatedBy: "const long r0 = ").count - 1 == 4)
    for (run, outputs) in try Oracle.onOneThreadAndTwo(source, "loops", inputs, set) {
      let actual = try #require(outputs.values.first)
      #expect(actual.relativeError(to: expected) < 1e-5, "\(run)")
    }
  }

  /// Small loops stay on one thread, in their serial form.
  @Test func smallLoopsStayOnOneThread() throws {
    let path = Repository.temporaryFolder().appendingPathComponent("small.yaml").path
    try "model: small\ninputs:\n  x: f32[4, 64, 16]\nlayers:\n  - gelu\n  - layer_norm(16)\n  - softmax\n"
      .write(toFile: path, atomically: true, encoding: .utf8)
    let optimized = Pipeline.optimize(try Oracle.graph(path, BuildOptions()).1, passes: try Pipeline.passes(nil))
    #expect(optimized.nodes.indices.allSatisfy { optimized.loopParts($0) == 1 })
    #expect(!CEmitter.emit(optimized, source: "small").contains("omp parallel"))
  }
}

/// Matmuls reading packed panels (`pack-weights`): 302 rows (25 blocks of 12 and 2 rows) in three groups (depth
/// 2100), 80 columns (two 32-wide panels and a 16-wide one, claimed by the threads group by group), with the fused bias and
/// GELU in the blocks and, without the fuse pass, as a plain product; on one thread and two, against the interpreter.
@Suite struct PackedGemmTests {
  @Test(arguments: [false, true])
  func packedMatmulAgreesWithTheInterpreter(unfused: Bool) throws {
    let (graph, set, inputs, expected) = try Oracle.threadedCase("packed", """
      model: packed
      inputs:
        x: f32[2, 151, 2100]
      layers:
        - linear(80)
        - gelu
      """)
    let passes = unfused ? ["strip-dropout", "canonicalize-reshapes", "cse", "dce", "pack-weights", "plan-memory"] : nil
    let optimized = Pipeline.optimize(graph, passes: try Pipeline.passes(passes))
    let product = try #require(optimized.nodes.indices.first { optimized.packedMatmul($0) != nil })
    #expect(optimized.packedMatmul(product)! == (rows: 302, columns: 80, depth: 2100, parts: 2))
    #expect(optimized.loadTimeValues.contains(optimized.nodes[product].operands[1]))
    let source = CEmitter.emit(optimized, source: "packed")
    #expect(source.contains("danlu_panel_block(a + m0 * 2100, 2100, 1, panel, width, 2100, y + m0 * 80 + n0, 80, 1, rows);"))
    #expect(source.contains("for (long c = n0; c < n0 + width; c++)") == !unfused)  // bias and GELU in the blocks
    // Each group of rows has its own counter, from which the threads claim the three panels.
    #expect(source.contains("atomic_llong claims[3] = {0};")
      && source.contains("for (long p = danlu_claim_item(claims + gi, part, 3); p >= 0; "))
    for (run, outputs) in try Oracle.onOneThreadAndTwo(source, "packed", inputs, set) {
      let actual = try #require(outputs.values.first)
      #expect(actual.relativeError(to: expected) < 1e-5, "\(run)")
    }
  }
}

/// Convolutions with packed filters at batch 1: a 3×3 stride-2 convolution (144 filters: four 32-wide panels and a
/// 16-wide one) with batch norm and relu in its blocks, then a 1×1 one that reads its input in place (304 filters),
/// plain without the fuse pass; on one thread and two, against the interpreter.
@Suite struct PackedConvolutionTests {
  @Test(arguments: [false, true])
  func packedConvolutionsAgreeWithTheInterpreter(unfused: Bool) throws {
    let (graph, set, inputs, expected) = try Oracle.threadedCase("packedconv", """
      model: packedconv
      inputs:
        x: f32[1, 64, 56, 56]
      layers:
        - conv2d(144, kernel=3, stride=2, padding=1, bias=false)
        - batchnorm2d
        - relu
        - conv2d(304, kernel=1)
      """)
    let passes = unfused ? ["strip-dropout", "canonicalize-reshapes", "cse", "dce", "pack-weights", "plan-memory"]
      : Oracle.inferenceWithout("prefer-direct")  // which would take the 3×3 by filters, no im2col
    let optimized = Pipeline.optimize(graph, passes: try Pipeline.passes(passes))
    let convolutions = optimized.nodes.indices.compactMap { optimized.packedConvolution($0) }
    #expect(convolutions.map(\.channels) == [144, 304] && convolutions.allSatisfy { $0.parts == 2 })
    let source = CEmitter.emit(optimized, source: "packedconv")
    #expect(source.contains("danlu_panel_block(a + m0 * 1, 1, 784, panel, width, 576, y + (n * 144 + n0) * 784 + m0, 1, 784, rows);"))
    #expect(source.contains("danlu_panel_block(a + m0 * 1, 1, 784, panel, width, 144, y + (n * 304 + n0) * 784 + m0, 1, 784, rows);"))
    #expect(source.components(separatedBy: "for (long p = danlu_claim_item(claims + gi, part, ").count == 3)
    for (run, outputs) in try Oracle.onOneThreadAndTwo(source, "packedconv", inputs, set) {
      let actual = try #require(outputs.values.first)
      #expect(actual.relativeError(to: expected) < 1e-5, "\(run)")
    }
  }
}

/// A packed convolution of two images (IR written by hand: `pack-weights` packs batch 1 only), 48 filters (a 32-wide
/// and a 16-wide panel) with a fused bias and relu: the images one after the other, the threads meeting between them.
@Suite struct PackedConvolutionBatchTests {
  @Test func packedConvolutionOfTwoImagesAgreesWithTheInterpreter() throws {
    let graph = try IRParser.parse("""
      graph g {
        %0 = input {name="x"} : f32[2,16,16,16]  # x
        %1 = param {name="c.weight"} : f32[48,16,3,3]  # c
        %2 = param {name="c.bias"} : f32[48]  # c
        %3 = pack_panels(%1) : f32[48,16,3,3]  # c
        %4 = fused(%0, %3, %2) {anchor="conv2d" dilation=[1,1] epilogue="bias_add(2,axis=1) relu" groups=1 padding=[1,1] stride=[1,1]} : f32[2,48,16,16]  # c
        output y = %4
      }
      """)
    let weights = ["c.weight": Tensor.random([48, 16, 3, 3], seed: 3), "c.bias": Tensor.random([48], seed: 4)]
    let inputs = ["x": Tensor.random([2, 16, 16, 16], seed: 5)]
    let expected = try #require(try Oracle.interpret(graph, inputs, weights)["y"])
    let planned = Pipeline.optimize(graph, passes: try Pipeline.passes(["plan-memory"]))
    #expect(planned.packedConvolution(4)! == (spatial: 256, depth: 144, channels: 48, parts: 2))
    let source = CEmitter.emit(planned, source: "twoimages")
    #expect(!source.contains("danlu_claim_item(claims"))  // fixed halves: the counters are per lone image
    let set = WeightSet(weights.map { ($0.key, $0.value) })
    for (run, outputs) in try Oracle.onOneThreadAndTwo(source, "g", inputs, set) {
      let actual = try #require(outputs["y"])
      #expect(actual.relativeError(to: expected) < 1e-5, "\(run)")
    }
  }
}

/// The fused recurrent step reads weight_ih and weight_hh packed: at load time (`pack-weights`, default pipeline) or
/// on every call (without the pass). A GRU of 48 units has 144 gate rows, so its last panel is 16 wide; 64 steps of
/// 40 rows (20M multiply-adds) take both threads, which claim blocks of units as they go. Smaller batches give the
/// 8-float tile's runs of 1 to 5 rows (40 rows are runs of 5 and 6; 9 of 4 and 5). The GRU's new gate keeps its input
/// side apart; the RNN has a lone gate. Against the interpreter on one thread and two.
@Suite struct PackedRecurrenceTests {
  @Test(arguments: [("gru(48)", true, 40), ("gru(48)", false, 40), ("lstm(32)", true, 40), ("lstm(32)", false, 9),
                    ("gru(48)", true, 2), ("lstm(16)", true, 3), ("gru(32)", true, 1), ("rnn(32)", true, 40),
                    ("rnn(32, nonlinearity='relu')", false, 5)])
  func recurrenceWithPanelsAgreesWithTheInterpreter(_ layer: String, _ prepacked: Bool, _ batch: Int) throws {
    let (graph, set, inputs, expected) = try Oracle.threadedCase("recurrence", """
      model: recurrence
      inputs:
        x: f32[64, \(batch), 8]
      layers:
        - r: \(layer)
      outputs:
        output: r[0]
      """)
    let passes = PassRegistry.inference.map(\.name).filter { prepacked || $0 != packWeights.name }
    let optimized = Pipeline.optimize(graph, passes: try Pipeline.passes(passes))
    #expect(optimized.nodes.contains { $0.op == .packPanels } == prepacked)
    let source = CEmitter.emit(optimized, source: "recurrence")
    #expect(source.contains("const float *packed_ih = wih;") == prepacked)
    #expect(source.contains("const float *packed_hh = whh;") == prepacked)
    #expect(!source.contains("cblas_sgemm"))  // the input projection is in the step's tiles
    for (run, outputs) in try Oracle.onOneThreadAndTwo(source, "recurrence", inputs, set) {
      let actual = try #require(outputs["output"])
      #expect(actual.relativeError(to: expected) < 1e-5, "\(run)")
    }
  }
}

/// Which waiting the standalone binary asks of idle threads: OpenMP's spins briefly between short regions that carry
/// the work, and sleeps at once when OpenBLAS's own threads carry more than a tenth of it or the regions are long.
@Suite struct ThreadPolicyTests {
  func source(_ layers: String) throws -> String {
    let path = Repository.temporaryFolder().appendingPathComponent("policy.yaml").path
    try "model: policy\ninputs:\n  x: f32[2, 151, 2100]\nlayers:\n\(layers)".write(toFile: path, atomically: true, encoding: .utf8)
    return CEmitter.emit(Pipeline.optimize(try Oracle.graph(path, BuildOptions()).1, passes: try Pipeline.passes(nil)), source: "policy")
  }

  @Test func regionsThatCarryTheWorkSpin() throws {
    let packed = try source("  - linear(80)\n")  // a packed GEMM on two threads
    #expect(packed.contains(CEmitter.spinWorkersCall) && !packed.contains(CEmitter.quietWorkersCall))
    // 24M multiply-adds through OpenBLAS's threads (1000 rows are not whole vectors) beside the packed 51M.
    let mixed = try source("  - linear(80)\n  - linear(1000)\n")
    #expect(mixed.contains(CEmitter.quietWorkersCall) && !mixed.contains(CEmitter.spinWorkersCall))
    // One region of 1.3G multiply-adds: a wake-up is nothing beside it.
    let long = try source("  - linear(2048)\n")
    #expect(long.contains(CEmitter.quietWorkersCall) && !long.contains(CEmitter.spinWorkersCall))
  }
}

@Suite struct AttentionMaskTests {
  /// The vector kernel with its (batch row, head) pairs claimed by two threads (2.4M multiply-adds), on one thread and
  /// two, against the interpreter: causal, with padded keys in the second batch row.
  @Test func attentionInPartsAgreesWithTheInterpreter() throws {
    let path = Repository.temporaryFolder().appendingPathComponent("parts.yaml").path
    try """
      model: parts
      inputs:
        x: f32[2, 96, 64]
        mask: f32[2, 96]
      layers:
        - m: multi_head_attention(64, 4, batch_first=true, causal=true, key_padding_mask=true)(x, mask)
      """.write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions())
    let weights = graph.initialWeights(model.initializers, seed: 5)
    let inputs = ["x": Tensor.random([2, 96, 64], seed: 6),
                  "mask": Tensor(shape: [2, 96], data: (0..<192).map { $0 >= 96 && $0 % 7 == 3 ? 1 : 0 })]
    let expected = try #require(try Oracle.interpret(graph, inputs, weights).values.first)
    let source = CEmitter.emit(Pipeline.optimize(graph, passes: try Pipeline.passes(nil)), source: "parts")
    #expect(source.contains("const long n = item / 4, h = item % 4;"))
    #expect(source.contains("for (long item = danlu_claim_item(claims, part, 8); item >= 0; "))  // 2 rows × 4 heads
    let set = WeightSet(weights.map { ($0.key, $0.value) })
    for (run, outputs) in try Oracle.onOneThreadAndTwo(source, "parts", inputs, set) {
      let actual = try #require(outputs.values.first)
      #expect(actual.relativeError(to: expected) < 1e-5, "\(run)")
    }
  }

  /// A query that the key padding mask leaves no key gives NaN, as in PyTorch, in both forward kernels (vector loops
  /// for head size 16, GEMMs for head size 2), and the other batch row is unaffected.
  @Test(arguments: [(width: 32, heads: 2), (width: 4, heads: 2)])
  func aQueryThatSeesNoKeyGivesNaN(_ shape: (width: Int, heads: Int)) throws {
    let path = Repository.temporaryFolder().appendingPathComponent("masked\(shape.width).yaml").path
    try """
      model: masked
      inputs:
        x: f32[2, 5, \(shape.width)]
        mask: f32[2, 5]
      layers:
        - m: multi_head_attention(\(shape.width), \(shape.heads), batch_first=true, key_padding_mask=true)(x, mask)
      """.write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions())
    let weights = graph.initialWeights(model.initializers, seed: 5)
    let inputs = ["x": Tensor.random([2, 5, shape.width], seed: 6),
                  "mask": Tensor(shape: [2, 5], data: [0, 1, 0, 0, 1, 1, 1, 1, 1, 1])]
    let expected = try #require(try Oracle.interpret(graph, inputs, weights).values.first)
    let actual = try #require(try Oracle.compiled(graph, inputs, WeightSet(weights.map { ($0.key, $0.value) })).values.first)
    let row = 5 * shape.width
    #expect(actual.data[row...].allSatisfy { $0.isNaN } && expected.data[row...].allSatisfy { $0.isNaN })
    let visible = Tensor(shape: [row], data: Array(actual.data[..<row]))
    #expect(visible.relativeError(to: Tensor(shape: [row], data: Array(expected.data[..<row]))) < 1e-5)
  }
}
