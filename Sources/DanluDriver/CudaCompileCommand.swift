import DanluCodegen
import DanluDiagnostics
import DanluIR
import DanluPasses
import DanluRuntime
import Foundation

extension Commands {
  /// `danlu compile --target cuda -o OUT`: writes the folder `OUT/` — `model.cu`, `danlu_cuda.h`, a Makefile, the C
  /// runtime under `runtime/`, and `model.safetensors` — that `make` builds with nvcc on a machine with an NVIDIA
  /// GPU, into `OUT/model` with the same command line as the CPU binary.
  public static func compileCuda(_ path: String, _ options: BuildOptions, output: String, weights file: String?,
                                 seed: UInt64 = 0) throws(DriverFailure) -> String {
    // `pack-weights` lays weights out for the CPU's own GEMM; cuBLAS reads them as they are, so the default pipeline
    // leaves it out here rather than keep a second copy on the device. `choose-layout` is for the CPU's kernels too.
    var options = options
    if options.passes == nil {
      options.passes = PassRegistry.inference.map(\.name).filter { $0 != packWeights.name && $0 != chooseLayout.name }
    }
    let (model, graph, source, loader) = try generate(path, options) { (graph) throws(DiagnosticError) in
      try CudaEmitter.emit(graph, source: path)
    }
    do throws(DiagnosticError) {
      let weightSet = try weights(file, model, graph, seed: seed)
      try writeCudaFolder(source, to: URL(fileURLWithPath: output))
      try weightSet.write(to: output + "/model.safetensors")
    } catch {
      throw DriverFailure(loader.renderer.render(error))
    }
    return "compiled \(graph.name) → \(output)/ (model.cu, Makefile, runtime/, model.safetensors); "
      + "build it with 'make -C \(output)' where nvcc is installed\n" + (graph.memoryPlan.map { $0.summary + "\n" } ?? "")
  }

  /// Runs `body` with a CUDA source built for this CPU (`CCompiler.compileEmulatedCuda`) and loaded in-process.
  public static func inProcessEmulatedCuda<T>(_ source: String, _ body: (CompiledModel) throws(DiagnosticError) -> T)
    throws(DiagnosticError) -> T
  {
    let folder = FileManager.default.temporaryDirectory
      .appendingPathComponent("danlu-cuda-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))")
    defer { try? FileManager.default.removeItem(at: folder) }
    try writeCudaFolder(source, to: folder)
    let library = folder.appendingPathComponent("model.so")
    try CCompiler.compileEmulatedCuda(folder: folder, output: library)
    return try body(try CompiledModel(sharedObject: library.path))
  }

  /// The folder's files: the generated source, the CUDA glue, the Makefile and a copy of the C runtime.
  public static func writeCudaFolder(_ source: String, to folder: URL) throws(DiagnosticError) {
    let files = FileManager.default
    let runtime = CCompiler.runtimeDirectory
    do {
      try files.createDirectory(at: folder.appendingPathComponent("runtime/include"), withIntermediateDirectories: true)
      try source.write(to: folder.appendingPathComponent("model.cu"), atomically: true, encoding: .utf8)
      try CudaSupport.header.write(to: folder.appendingPathComponent("danlu_cuda.h"), atomically: true, encoding: .utf8)
      try CudaSupport.makefile.write(to: folder.appendingPathComponent("Makefile"), atomically: true, encoding: .utf8)
      let sources = try files.contentsOfDirectory(atPath: runtime.path).filter { $0.hasSuffix(".c") || $0.hasSuffix(".h") }
      for name in sources.sorted() + ["include/danlu_runtime.h"] {
        let target = folder.appendingPathComponent("runtime/" + name)
        if files.fileExists(atPath: target.path) { try files.removeItem(at: target) }
        try files.copyItem(at: runtime.appendingPathComponent(name), to: target)
      }
    } catch {
      throw DiagnosticError(.compilerFailed("cannot write the CUDA folder \(folder.path): \(error.localizedDescription)"),
                            at: .unknown)
    }
  }
}
