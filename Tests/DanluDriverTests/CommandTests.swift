import DanluDiagnostics
import DanluDriver
import DanluIR
import DanluRuntime
import DanluTestSupport
import Foundation
import Testing

/// The `danlu` executable beside the test bundle.
let danlu = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("danlu").path

@Suite struct CommandTests {
  @Test func checkPrintsTheTableAndTotals() throws {
    let report = try Commands.check(Repository.path("Models/resnet18.yaml"), BuildOptions())
    #expect(report.contains("parameters: 11,689,512"))
    #expect(report.contains("MACs: 1,814,073,344 (1.814 G)"))
    #expect(report.contains("layer2.0.downsample.0  conv2d"))
    let lines = report.split(separator: "\n")
    #expect(lines[0].hasPrefix("node") && lines[0].contains("op") && lines[0].contains("output") && lines[0].hasSuffix("params"))
  }

  @Test func irPrintsLocatedLinesInEveryFormat() throws {
    let path = Repository.path("Models/lenet5.yaml")
    let text = try Commands.ir(path, BuildOptions(), after: "frontend", printAfterAll: false, format: .text)
    #expect(text.contains("conv2d(%0, %1) {dilation=[1,1] groups=1 padding=[2,2] stride=[1,1]} : f32[N,6,28,28]  # conv1 @ \(path):7:12"))
    let optimized = try Commands.ir(path, BuildOptions(), after: nil, printAfterAll: false, format: .text)
    #expect(optimized.contains("{anchor=\"conv2d\" dilation=[1,1] epilogue=\"bias_add(2,axis=1) relu\""))
    #expect(try IRParser.parse(text) == IRParser.parse(text))
    #expect(try Commands.ir(path, BuildOptions(), after: nil, printAfterAll: false, format: .dot).hasPrefix("digraph"))
    #expect(try Commands.ir(path, BuildOptions(), after: nil, printAfterAll: false, format: .json).contains("\"graph\": \"lenet5\""))
    let all = try Commands.ir(path, BuildOptions(batch: 4), after: nil, printAfterAll: true, format: .text)
    #expect(all.contains("// ----- IR after frontend -----") && all.contains("// ----- IR after dce -----"))
    #expect(all.contains("f32[4,6,28,28]"))
    let first = try Commands.ir(path, BuildOptions(), after: "frontend", printAfterAll: false, format: .text)
    #expect(first.hasPrefix("graph lenet5 {"))
  }

  @Test func unknownPassesAreNamed() {
    #expect {
      try Commands.ir(Repository.path("Models/mlp.yaml"), BuildOptions(), after: "dcee", printAfterAll: false, format: .text)
    } throws: { error in
      (error as! DriverFailure).rendered.contains("unknown pass 'dcee'; did you mean 'dce'?")
    }
  }

  /// A pass that would undo what a later one built on is refused before anything runs, not left to the verifier (which
  /// stopped the process: packed panels read by a Winograd convolution).
  @Test func passesOutOfOrderAreNamed() throws {
    var options = BuildOptions(batch: 1)
    options.passes = ["fuse", "prefer-direct", "pack-weights", "prefer-winograd"]
    #expect {
      try Commands.ir(Repository.path("Models/vgg16.yaml"), options, after: nil, printAfterAll: false, format: .text)
    } throws: { error in
      (error as! DriverFailure).rendered.contains("--passes: 'prefer-winograd' cannot run after 'prefer-direct'; these "
        + "run in the order prefer-winograd, prefer-direct, pack-weights, choose-layout, plan-memory, and every other "
        + "pass before plan-memory")
    }
    #expect(throws: DiagnosticError.self) { try Pipeline.passes(["plan-memory", "dce"]) }
    #expect(throws: DiagnosticError.self) { try Pipeline.passes(["choose-layout", "pack-weights"]) }
    #expect(try Pipeline.passes(["fuse", "prefer-winograd", "cse", "choose-layout", "dce", "plan-memory"]).count == 6)
  }

  @Test func aBatchOfZeroIsNamed() {
    #expect {
      try Commands.ir(Repository.path("Models/resnet18.yaml"), BuildOptions(batch: 0), after: nil, printAfterAll: false,
                      format: .text)
    } throws: { error in
      (error as! DriverFailure).rendered.contains("--batch must be at least 1, got 0")
    }
  }

  @Test func compileNeedsEveryDimensionBound() throws {
    let folder = Repository.temporaryFolder()
    let spec = folder.appendingPathComponent("seq.yaml").path
    try "model: seq\ninputs:\n  x: f32[N, T]\nlayers:\n  - relu\n".write(toFile: spec, atomically: true, encoding: .utf8)
    #expect {
      try Commands.compile(spec, BuildOptions(batch: 2), output: folder.appendingPathComponent("bin").path, weights: nil)
    } throws: { error in
      (error as! DriverFailure).rendered.contains("symbolic dimension T must be bound to compile; pass --dim NAME=SIZE")
    }
    _ = try Commands.compile(spec, BuildOptions(batch: 2, bindings: ["T": 5]), output: folder.appendingPathComponent("bin").path,
                             weights: nil)
  }

  /// The standalone binary runs as its own process, with no Swift, and agrees with the interpreter.
  @Test func standaloneBinaryAgreesWithTheInterpreter() throws {
    let folder = Repository.temporaryFolder()
    let binary = folder.appendingPathComponent("lenet").path
    let summary = try Commands.compile(Repository.path("Models/lenet5.yaml"), BuildOptions(batch: 3), output: binary, weights: nil, seed: 11)
    #expect(summary.contains("inputs: x: f32[3,1,28,28]"))
    let x = Tensor.random([3, 1, 28, 28], seed: 12)
    let input = folder.appendingPathComponent("x.npy").path, output = folder.appendingPathComponent("y.npy").path
    try NPY.write(x, to: input)
    let run = try execute(binary, ["--input", input, "--output", "logits=" + output, "--bench", "5"])
    #expect(run.status == 0, "\(run.err)")
    #expect(run.out.split(separator: "\n").last?.hasPrefix("bench: median_ms=") == true)
    #expect(run.out.contains("runs=5"))
    let (model, graph) = try Oracle.graph(Repository.path("Models/lenet5.yaml"), BuildOptions(batch: 3))
    let expected = try Oracle.interpret(graph, ["x": x], graph.initialWeights(model.initializers, seed: 11))["logits"]!
    #expect(try NPY.read(output).relativeError(to: expected) < 1e-4)

    // The same weights, passed explicitly, give the same answer; a mismatched input shape is an error, not a crash.
    let explicit = try execute(binary, ["--weights", binary + ".safetensors", "--input", "x=" + input, "--output", output + "2.npy"])
    #expect(explicit.status == 0)
    #expect(try NPY.read(output + "2.npy") == NPY.read(output))
    try NPY.write(Tensor.random([1, 1, 28, 28], seed: 1), to: input)
    let wrong = try execute(binary, ["--input", input, "--output", output])
    #expect(wrong.status == 1)
    #expect(wrong.err.contains("input 'x' must have shape [3, 1, 28, 28] but the file holds [1, 1, 28, 28]"))
    let missing = try execute(binary, ["--weights", folder.appendingPathComponent("none.safetensors").path, "--input", input])
    #expect(missing.status == 1 && missing.err.contains("cannot open"))
    let unknown = try execute(binary, ["--input", "y=" + input])
    #expect(unknown.status == 1 && unknown.err.contains("has no input 'y'"))
  }

  @Test func compileBakesInTheThreadCountAndReportsMemory() throws {
    let folder = Repository.temporaryFolder()
    let binary = folder.appendingPathComponent("mlp").path
    let summary = try Commands.compile(Repository.path("Models/mlp.yaml"), BuildOptions(batch: 1, threads: 1), output: binary,
                                       weights: nil)
    #expect(summary.contains("memory: arena="))
    let source = try String(contentsOfFile: binary + ".c", encoding: .utf8)
    #expect(source.contains("kernel_flops, PROFILE_MS, 1,"))
    try NPY.write(Tensor.random([1, 1, 28, 28], seed: 1), to: folder.appendingPathComponent("x.npy").path)
    let run = try execute(binary, ["--input", folder.appendingPathComponent("x.npy").path, "--threads", "2", "--bench", "3"])
    #expect(run.status == 0 && run.out.contains("runs=3"))
  }

  @Test func benchPrintsAProfileAndTheScriptLine() throws {
    let report = try Commands.bench(Repository.path("Models/lenet5.yaml"), BuildOptions(batch: 2), runs: 5, profile: true,
                                    threads: 1)
    let lines = report.split(separator: "\n")
    #expect(lines.first?.hasPrefix("kernel") == true && lines.first?.hasSuffix("GFLOP/s") == true)
    #expect(lines.contains { $0.hasPrefix("conv1 ") })
    #expect(lines.last?.hasPrefix("bench: median_ms=") == true && lines.last?.hasSuffix("runs=5") == true)
  }

  @Test func runInProcessWritesNamedOutputs() throws {
    let folder = Repository.temporaryFolder()
    let input = folder.appendingPathComponent("x.npy").path, output = folder.appendingPathComponent("y.npy").path
    try NPY.write(Tensor.random([2, 1, 28, 28], seed: 5), to: input)
    let report = try Commands.run(Repository.path("Models/mlp.yaml"), BuildOptions(batch: 2), weights: nil,
                                  inputs: ["x=" + input], outputs: ["logits=" + output])
    #expect(report == "logits: [2, 10] → \(output)\n")
    let interpreted = try Commands.run(Repository.path("Models/mlp.yaml"), BuildOptions(batch: 2), weights: nil,
                                       inputs: [input], outputs: [output + "i.npy"], interpret: true)
    #expect(interpreted.contains("logits: [2, 10]"))
    #expect(try NPY.read(output).relativeError(to: NPY.read(output + "i.npy")) < 1e-4)
  }

  @Test func theExecutableRendersErrorsAndExitsOne() throws {
    let folder = Repository.temporaryFolder()
    let bad = folder.appendingPathComponent("bad.yaml").path
    try "model: bad\ninputs:\n  x: f32[N, 1, 28, 28]\nlayers:\n  - conv2d(6, kernal=5)\n".write(toFile: bad, atomically: true, encoding: .utf8)
    let result = try execute(danlu, ["check", bad])
    #expect(result.status == 1)
    #expect(result.err == """
      \(bad):5:15: error: layer '0': conv2d has no argument 'kernal'; did you mean 'kernel'?
        - conv2d(6, kernal=5)
                    ^

      """)
    let good = try execute(danlu, ["check", Repository.path("Models/mlp.yaml"), "--batch", "8"])
    #expect(good.status == 0)
    #expect(good.out.contains("parameters: 535,818"))
    let garbage = folder.appendingPathComponent("w.safetensors").path
    FileManager.default.createFile(atPath: garbage, contents: Data([1, 2, 3]))
    let weights = try execute(danlu, ["run", Repository.path("Models/mlp.yaml"), "--batch", "1", "--weights", garbage])
    #expect(weights.status == 1)
    #expect(weights.err.contains("w.safetensors: file too short"))
  }

  /// `compile --target cuda` writes the folder and says how to build it; an unknown target is named.
  @Test func compileWritesACudaFolderOrNamesAnUnknownTarget() throws {
    let folder = Repository.temporaryFolder().appendingPathComponent("mlp-cuda")
    let result = try execute(danlu, ["compile", Repository.path("Models/mlp.yaml"), "--batch", "2", "--target", "cuda", "-o", folder.path])
    #expect(result.status == 0, "\(result.err)")
    #expect(result.out.contains("build it with 'make -C \(folder.path)' where nvcc is installed"))
    for file in ["model.cu", "danlu_cuda.h", "Makefile", "model.safetensors", "runtime/danlu_main.c", "runtime/include/danlu_runtime.h"] {
      #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path), "\(file)")
    }
    let unknown = try execute(danlu, ["compile", Repository.path("Models/mlp.yaml"), "--batch", "2", "--target", "tpu", "-o", folder.path])
    #expect(unknown.status == 1)
    #expect(unknown.err.contains("unknown target 'tpu'; use --target cpu or --target cuda"))
  }
}
