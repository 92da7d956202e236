import DanluDiagnostics
import Foundation

/// Compiles generated C with the system compiler against OpenBLAS and the Danlu C runtime.
public enum CCompiler {
  public enum Product {
    /// A shared object for dlopen: only the model file, which needs nothing from the runtime at link time.
    case sharedObject
    /// A standalone executable: the model, the C runtime and its `main`.
    case executable
  }

  /// The C runtime's sources: `DANLU_RUNTIME_DIR`, or `Sources/CDanluRuntime` of this checkout.
  public static var runtimeDirectory: URL {
    if let override = ProcessInfo.processInfo.environment["DANLU_RUNTIME_DIR"] { return URL(fileURLWithPath: override) }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("CDanluRuntime")
  }

  public static var compiler: String { ProcessInfo.processInfo.environment["CC"] ?? "cc" }

  /// Writes `source` to `cFile` and compiles it to `output`.
  public static func compile(source: String, cFile: URL, output: URL, product: Product, defines: [String] = [])
    throws(DiagnosticError)
  {
    do {
      try source.write(to: cFile, atomically: true, encoding: .utf8)
    } catch {
      throw DiagnosticError(.compilerFailed("cannot write \(cFile.path): \(error.localizedDescription)"), at: .unknown)
    }
    let runtime = runtimeDirectory
    let header = runtime.appendingPathComponent("include/danlu_runtime.h").path
    guard FileManager.default.fileExists(atPath: header) else {
      throw DiagnosticError(.compilerFailed("the Danlu C runtime is not at \(runtime.path); set DANLU_RUNTIME_DIR"), at: .unknown)
    }
    // The binary runs where it is built (as llama.cpp's do): use every vector unit this machine has.
    // No errno from math functions: sqrtf becomes one vector instruction (the same IEEE result), so loops vectorize.
    let flags = ProcessInfo.processInfo.environment["DANLU_CFLAGS"]?.split(separator: " ").map(String.init)
      ?? ["-O3", "-march=native", "-fno-math-errno"]
    // OpenMP runs a kernel's parts on threads of its own (`KernelEmitter.inParts`); the kernels fall back to one
    // thread without it.
    var arguments = flags + defines.map { "-D" + $0 } + ["-std=c11", "-fopenmp", "-fPIC", "-I", runtime.appendingPathComponent("include").path, cFile.path]
    switch product {
    case .sharedObject:
      arguments += ["-shared"]
    case .executable:
      arguments += ["-DDANLU_STANDALONE"]
      let files = (try? FileManager.default.contentsOfDirectory(atPath: runtime.path)) ?? []
      arguments += files.filter { $0.hasSuffix(".c") }.sorted().map { runtime.appendingPathComponent($0).path }
    }
    arguments += ["-o", output.path, "-lopenblas", "-lm"]
    let (status, log) = run(compiler, arguments)
    guard status == 0 else {
      var hint = ""
      if log.contains("cblas.h") || log.contains("-lopenblas") {
        hint = "\nOpenBLAS is missing: install it with 'apt-get install -y libopenblas-dev'."
      }
      throw DiagnosticError(.compilerFailed("\(compiler) \(arguments.joined(separator: " "))\n\(log)\(hint)"), at: .unknown)
    }
  }

  /// Builds a CUDA folder's `model.cu` (see `danlu compile --target cuda`) as C++ for this CPU, with
  /// `-DDANLU_CUDA_EMULATE`: kernels run as loops over their threads and cuBLAS calls as OpenBLAS. A shared object
  /// for dlopen, for checking the generated kernels where there is no GPU.
  public static func compileEmulatedCuda(folder: URL, output: URL) throws(DiagnosticError) {
    let compiler = ProcessInfo.processInfo.environment["CXX"] ?? "c++"
    let arguments = ["-O2", "-x", "c++", "-std=c++17", "-DDANLU_CUDA_EMULATE", "-fPIC", "-shared", "-I", folder.path,
                     "-I", folder.appendingPathComponent("runtime/include").path, folder.appendingPathComponent("model.cu").path,
                     "-o", output.path, "-lopenblas", "-lm"]
    let (status, log) = run(compiler, arguments)
    guard status == 0 else {
      throw DiagnosticError(.compilerFailed("\(compiler) \(arguments.joined(separator: " "))\n\(log)"), at: .unknown)
    }
  }

  /// Runs a program, returning its exit status and combined output.
  static func run(_ program: String, _ arguments: [String]) -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [program] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    do { try process.run() } catch { return (127, "cannot start \(program): \(error.localizedDescription)") }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
  }
}
