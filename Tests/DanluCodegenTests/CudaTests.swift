import DanluCodegen
import DanluDiagnostics
import DanluDriver
import DanluIR
import DanluRuntime
import DanluTestSupport
import Foundation
import Testing

/// The CUDA target without a GPU: the generated source built as C++ with `-DDANLU_CUDA_EMULATE` (kernels as loops
/// over their threads, cuBLAS as OpenBLAS, the arena poisoned with NaN before every run) against the interpreter;
/// its snapshot; and nvcc's verdict on it where nvcc is installed. Only a GPU run checks it on a GPU.
@Suite struct CudaTests {
  /// The models the CUDA target compiles; the recurrent and attention ones get a located error instead.
  static let supported = ["lenet5", "lenet5_finetune", "mlp", "resnet18", "resnet50", "vgg16"]
  static let unsupported = ["char_lm", "gru", "lstm", "rnn", "seq2seq_attention", "transformer", "transformer_encoder",
                            "transformer_encoder_layer"]

  @Test func everyModelIsCoveredOneWayOrTheOther() {
    #expect(Set(Self.supported + Self.unsupported) == Set(Repository.models))
  }

  @Test(arguments: supported)
  func emulatedKernelsAgreeWithTheInterpreter(_ name: String) throws {
    let options = BuildOptions(batch: name == "vgg16" ? 1 : 2, bindings: CodegenTests.smallDims(name))
    let (model, graph) = try Oracle.graph(Repository.path("Models/\(name).yaml"), options)
    let seed = UInt64.random(in: 1...1_000_000)
    let weights = graph.initialWeights(model.initializers, seed: seed)
    let inputs = Oracle.randomInputs(graph, seed: seed)
    let expected = try Oracle.interpret(graph, inputs, weights)
    let source = try CudaEmitter.emit(Pipeline.optimize(graph, passes: try Pipeline.passes(nil)), source: name)
    let set = WeightSet(weights.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
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
  /// emulated CUDA build. Cases with a recurrence or attention must get the located refusal instead.
  @Test(arguments: Repository.goldenCases)
  func emulatedKernelsMatchONNXRuntime(_ name: String) throws {
    let golden = try GoldenCase(name)
    let optimized = Pipeline.optimize(golden.graph, passes: try Pipeline.passes(nil))
    let needsSequenceKernels = optimized.nodes.contains {
      switch $0.op { case .recurrent, .attention: true; default: false }
    }
    if needsSequenceKernels {
      let error = #expect(throws: DiagnosticError.self) { try CudaEmitter.emit(optimized, source: name) }
      #expect(error?.diagnostics.first?.id == "target-unsupported")
      return
    }
    let source = try CudaEmitter.emit(optimized, source: name)
    let output = try #require(try Commands.inProcessEmulatedCuda(source) { (compiled) throws(DiagnosticError) in
      try compiled.run(inputs: golden.inputs, weights: golden.weights)
    }["output"])
    #expect(output.shape == golden.expected.shape)
    #expect(output.relativeError(to: golden.expected) < 1e-5, "\(name): \(output.relativeError(to: golden.expected))")
    #expect(!output.data.contains { $0.isNaN } || golden.expected.data.contains { $0.isNaN })
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

  @Test(arguments: unsupported)
  func unsupportedOpsNameTheirLayer(_ name: String) throws {
    let options = BuildOptions(batch: 2, bindings: CodegenTests.smallDims(name))
    let (_, graph) = try Oracle.graph(Repository.path("Models/\(name).yaml"), options)
    let error = #expect(throws: DiagnosticError.self) {
      try CudaEmitter.emit(Pipeline.optimize(graph, passes: try Pipeline.passes(nil)), source: name)
    }
    #expect(error?.diagnostics.first?.id == "target-unsupported")
    #expect(error?.diagnostics.first?.location.isUnknown == false, "the error points into the spec")
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
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["make", "-C", folder.path, "CUDA_ARCH=sm_70"]
    let pipe = Pipe()
    (process.standardOutput, process.standardError) = (pipe, pipe)
    try process.run()
    let log = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "\(log)")
  }
}
