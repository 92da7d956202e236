import DanluCodegen
import DanluDiagnostics
import DanluDriver
import DanluIR
import DanluPasses
import DanluRuntime
import DanluTestSupport
import Foundation
import Testing

/// The CUDA target without a GPU: the generated source built as C++ with `-DDANLU_CUDA_EMULATE` (kernels as loops
/// over their threads, cuBLAS as OpenBLAS, the arena poisoned with NaN before every run) against the interpreter;
/// its snapshot; and nvcc's verdict on it where nvcc is installed. Only a GPU run checks it on a GPU.
@Suite struct CudaTests {
  /// Every model in Models/ compiles for CUDA (inference).
  static let supported = Repository.models

  @Test(arguments: supported)
  func emulatedKernelsAgreeWithTheInterpreter(_ name: String) throws {
    let (graph, inputs, set, expected, seed) = try CodegenTests.modelCase(name)
    let source = try CudaEmitter.emit(Pipeline.optimize(graph, passes: try Pipeline.passes(nil)), source: name)
    let actual = try Commands.inProcessEmulatedCuda(source) { (compiled) throws(DiagnosticError) in
      try compiled.run(inputs: inputs, weights: set)
    }
    for output in graph.outputs {
      let (a, e) = (try #require(actual[output.name]), try #require(expected[output.name]))
      #expect(a.shape == e.shape)
      #expect(a.relativeError(to: e) < 1e-4, "\(name) seed \(seed): \(a.relativeError(to: e))")
      #expect(!a.data.contains { $0.isNaN }, "\(name): an element no kernel wrote (the arena is poisoned with NaN)")
    }
  }

  /// Every ONNX Runtime golden case (one op or a small block each: broadcasting, concatenation, pooling with padding
  /// and ceil mode, grouped and dilated convolutions, softmax over channels, layer norm, embedding, …) through the
  /// emulated CUDA build: recurrent layers (stacked, bidirectional, batch first, wide) and attention (masks,
  /// cross-attention, encoder and decoder layers) included.
  @Test(arguments: Repository.goldenCases)
  func emulatedKernelsMatchONNXRuntime(_ name: String) throws {
    let golden = try GoldenCase(name)
    let optimized = Pipeline.optimize(golden.graph, passes: try Pipeline.passes(nil))
    let source = try CudaEmitter.emit(optimized, source: name)
    let output = try #require(try Commands.inProcessEmulatedCuda(source) { (compiled) throws(DiagnosticError) in
      try compiled.run(inputs: golden.inputs, weights: golden.weights)
    }["output"])
    #expect(output.shape == golden.expected.shape)
    #expect(output.relativeError(to: golden.expected) < 1e-5, "\(name): \(output.relativeError(to: golden.expected))")
    #expect(!output.data.contains { $0.isNaN } || golden.expected.data.contains { $0.isNaN })
  }

  /// Convolutions run a chunk of images per im2col launch and strided-batched GEMM; with a column buffer of two
  /// images' columns, 5 images go as 2 + 2 + 1: a 3×3 convolution with its fused epilogue, a grouped dilated one and a
  /// 1×1 one (no im2col, the GEMM reading the input in place) against the interpreter.
  @Test func convolutionsRunInChunksOfImages() throws {
    let path = Repository.temporaryFolder().appendingPathComponent("chunks.yaml").path
    try """
      model: chunks
      inputs:
        x: f32[5, 4, 9, 9]
      layers:
        - c1: conv2d(6, kernel=3, padding=1)
        - bn: batchnorm2d
        - relu
        - c2: conv2d(6, kernel=3, padding=2, dilation=2, groups=2)
        - c3: conv2d(3, kernel=1)
      """.write(toFile: path, atomically: true, encoding: .utf8)
    let (model, graph) = try Oracle.graph(path, BuildOptions())
    let optimized = Pipeline.optimize(graph, passes: try Pipeline.passes(nil))
    let source = try CudaEmitter.emit(optimized, source: "chunks", columnFloats: 2 * 4 * 9 * 81)
    #expect(source.contains("n0 += 2)"), "c1's 36×81 columns per image: two images per launch")
    #expect(source.contains("danlu_gemm_batched"))
    let weights = graph.initialWeights(model.initializers, seed: 11)
    let inputs = Oracle.randomInputs(graph, seed: 12)
    let expected = try #require(try Oracle.interpret(graph, inputs, weights)["output"])
    let set = WeightSet(weights.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    let actual = try #require(try Commands.inProcessEmulatedCuda(source) { (compiled) throws(DiagnosticError) in
      try compiled.run(inputs: inputs, weights: set)
    }["output"])
    #expect(actual.shape == expected.shape)
    #expect(actual.relativeError(to: expected) < 1e-5, "\(actual.relativeError(to: expected))")
  }

  /// The emitted CUDA for a small model is part of the contract, like the C (STYLE 13).
  @Test func lenet5SourceMatchesItsSnapshot() throws {
    let (_, graph) = try Oracle.graph(Repository.path("Models/lenet5.yaml"), BuildOptions(batch: 1))
    let source = try CudaEmitter.emit(Pipeline.optimize(graph, passes: try Pipeline.passes(nil)), source: "Models/lenet5.yaml")
      .replacingOccurrences(of: Repository.root.path + "/", with: "")
    let snapshot = Repository.path("Tests/Fixtures/snapshots/lenet5.cu")
    if ProcessInfo.processInfo.environment["DANLU_UPDATE_SNAPSHOTS"] == "1" {
      try source.write(toFile: snapshot, atomically: true, encoding: .utf8)
    }
    #expect(source == (try String(contentsOfFile: snapshot, encoding: .utf8)),
            "the generated CUDA changed; rerun with DANLU_UPDATE_SNAPSHOTS=1 and review the diff")
  }

  /// Train steps have no CUDA kernels yet: the refusal names the first gradient op's layer and points into the spec.
  @Test func trainStepsAreRefusedWithTheirLayer() throws {
    let (model, graph) = try Oracle.graph(Repository.path("Models/lenet5.yaml"), BuildOptions(batch: 2))
    let train = try Autodiff.trainingGraph(graph, loss: .crossEntropy(labelSmoothing: 0), batchNormMomentum: model.batchNormMomentum)
    let error = #expect(throws: DiagnosticError.self) {
      try CudaEmitter.emit(Pipeline.optimize(train, passes: try Pipeline.passes(nil)), source: "lenet5")
    }
    #expect(error?.diagnostics.first?.id == "target-unsupported")
    #expect(error?.diagnostics.first?.location.isUnknown == false, "the error points into the spec")
  }

  /// Blocked layouts (`choose-layout`) are the CPU kernels' storage order, as packed panels are: the CUDA kernels
  /// keep every tensor NCHW whatever its type says (`danlu compile --target cuda` leaves both passes out). ResNet-18's
  /// case in `emulatedKernelsAgreeWithTheInterpreter` runs the CPU pipeline's graph, blocked tensors and all.
  @Test func theEmulatedModelsMeetBlockedLayouts() throws {
    let graph = try CodegenTests.modelCase("resnet18").graph
    #expect(Pipeline.optimize(graph, passes: try Pipeline.passes(nil)).nodes.contains { $0.type.layout == .nchw8c })
  }

  static let nvcc: String? = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let found = path.split(separator: ":").map { "\($0)/nvcc" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    if found == nil { print("CudaTests: nvcc is not installed; skipping the nvcc builds of the generated CUDA") }
    return found
  }()

  /// Where nvcc is installed: the folder `danlu compile --target cuda` writes compiles (no GPU needed to compile).
  @Test(.enabled(if: nvcc != nil, "nvcc is not installed"), arguments: supported)
  func nvccCompilesTheFolder(_ name: String) throws {
    let folder = Repository.temporaryFolder().appendingPathComponent("cuda-\(name)")
    _ = try Commands.compileCuda(Repository.path("Models/\(name).yaml"), BuildOptions(batch: 1, bindings: CodegenTests.smallDims(name)),
                                 output: folder.path, weights: nil)
    let build = try execute("/usr/bin/env", ["make", "-C", folder.path, "CUDA_ARCH=sm_70"])
    #expect(build.status == 0, "\(build.out)\(build.err)")
  }

  /// `pack-weights` is a CPU layout: the CUDA folder's default pipeline leaves it out (cuBLAS reads the weights as
  /// they are), where the CPU pipeline packs the same model's weights.
  @Test func cudaPipelineLeavesWeightsUnpacked() throws {
    let options = BuildOptions(batch: 1, bindings: ["S": 128])
    let folder = Repository.temporaryFolder().appendingPathComponent("cuda-unpacked")
    _ = try Commands.compileCuda(Repository.path("Models/transformer_encoder_layer.yaml"), options, output: folder.path, weights: nil)
    let source = try String(contentsOf: folder.appendingPathComponent("model.cu"), encoding: .utf8)
    #expect(!source.contains("pack_panels") && source.contains("danlu_gemm(0, 1, 128, 1536, 512, inputs[0], 512, params[0], 512,"))
    let graph = try Oracle.graph(Repository.path("Models/transformer_encoder_layer.yaml"), options).1
    #expect(Pipeline.optimize(graph, passes: try Pipeline.passes(nil)).nodes.contains { $0.op == .packPanels })
  }

  /// The folder's `make emulated` builds the standalone binary for this CPU: it runs as a process with the CPU
  /// binary's arguments, agrees with the interpreter, and `--bench` reports the time between its CUDA events.
  @Test func emulatedStandaloneBinaryRunsAndBenches() throws {
    let folder = Repository.temporaryFolder().appendingPathComponent("cuda-standalone")
    _ = try Commands.compileCuda(Repository.path("Models/lenet5.yaml"), BuildOptions(batch: 3), output: folder.path,
                                 weights: nil, seed: 11)
    let build = try execute("/usr/bin/env", ["make", "-C", folder.path, "emulated"])
    #expect(build.status == 0, "\(build.out)\(build.err)")
    let x = Tensor.random([3, 1, 28, 28], seed: 12)
    let (input, output) = (folder.appendingPathComponent("x.npy").path, folder.appendingPathComponent("y.npy").path)
    try NPY.write(x, to: input)
    // Without --weights: the folder's model.safetensors, through emulated.safetensors beside the binary.
    let run = try execute(folder.appendingPathComponent("emulated").path, ["--input", input, "--output", output, "--bench", "3"])
    #expect(run.status == 0, "\(run.err)")
    #expect(run.err.contains("bench: GPU time between CUDA events around the kernels (copies excluded)"))
    #expect(run.out.contains("bench: median_ms=") && run.out.contains("runs=3"))
    let (model, graph) = try Oracle.graph(Repository.path("Models/lenet5.yaml"), BuildOptions(batch: 3))
    let expected = try Oracle.interpret(graph, ["x": x], graph.initialWeights(model.initializers, seed: 11))["logits"]!
    #expect(try NPY.read(output).relativeError(to: expected) < 1e-4)
  }
}
