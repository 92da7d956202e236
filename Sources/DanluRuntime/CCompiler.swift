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
    let common = flags + ["-std=c11", "-fopenmp", "-fPIC", "-I", runtime.appendingPathComponent("include").path]
    let link = ["-o", output.path, "-lopenblas", "-lm"]
    switch product {
    case .sharedObject:
      let (status, log) = run(compiler, common + defines.map { "-D" + $0 } + [cFile.path, "-shared"] + link)
      guard status == 0 else { throw failure(common + [cFile.path], log) }
    case .executable:
      // The C runtime compiles on the other core while the model's file does, then both link: ResNet-18 at batch 1
      // 9.1–10.9 s as one command, 7.4–8.5 s so (three alternations, the same C).
      let objects = cFile.deletingLastPathComponent()
        .appendingPathComponent(".\(cFile.deletingPathExtension().lastPathComponent)-objects-\(ProcessInfo.processInfo.processIdentifier)")
      defer { try? FileManager.default.removeItem(at: objects) }
      do { try FileManager.default.createDirectory(at: objects, withIntermediateDirectories: true) } catch {
        throw DiagnosticError(.compilerFailed("cannot create \(objects.path): \(error.localizedDescription)"), at: .unknown)
      }
      let files = ((try? FileManager.default.contentsOfDirectory(atPath: runtime.path)) ?? []).filter { $0.hasSuffix(".c") }
        .sorted().map { runtime.appendingPathComponent($0).path }
      let standalone = common + ["-DDANLU_STANDALONE", "-c"]
      let runtimeJob = start(compiler, standalone + files, in: objects)
      let model = objects.appendingPathComponent("model.o").path
      let (status, log) = run(compiler, standalone + defines.map { "-D" + $0 } + [cFile.path, "-o", model])
      let (runtimeStatus, runtimeLog) = finish(runtimeJob)
      guard status == 0 else { throw failure(standalone + [cFile.path], log) }
      guard runtimeStatus == 0 else { throw failure(standalone + files, runtimeLog) }
      let objectFiles = files.map { objects.appendingPathComponent(URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent + ".o").path }
      let (linkStatus, linkLog) = run(compiler, ["-fopenmp", model] + objectFiles + link)
      guard linkStatus == 0 else { throw failure(["-fopenmp", model] + objectFiles + link, linkLog) }
    }
  }

  /// The compiler's failure, with a hint where OpenBLAS is missing.
  private static func failure(_ arguments: [String], _ log: String) -> DiagnosticError {
    var hint = ""
    if log.contains("cblas.h") || log.contains("-lopenblas") {
      hint = "\nOpenBLAS is missing: install it with 'apt-get install -y libopenblas-dev'."
    }
    return DiagnosticError(.compilerFailed("\(compiler) \(arguments.joined(separator: " "))\n\(log)\(hint)"), at: .unknown)
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
  static func run(_ program: String, _ arguments: [String]) -> (Int32, String) { finish(start(program, arguments)) }

  /// A started program (nil: it could not start, with why) and the pipe of its combined output.
  struct Job {
    var process: Process?
    var output: Pipe
    var error: String
  }

  /// Starts a program in `directory` (default: this process's).
  static func start(_ program: String, _ arguments: [String], in directory: URL? = nil) -> Job {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [program] + arguments
    if let directory { process.currentDirectoryURL = directory }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    do { try process.run() } catch {
      return Job(process: nil, output: pipe, error: "cannot start \(program): \(error.localizedDescription)")
    }
    return Job(process: process, output: pipe, error: "")
  }

  /// Waits for a started program: its exit status and combined output.
  static func finish(_ job: Job) -> (Int32, String) {
    guard let process = job.process else { return (127, job.error) }
    let data = job.output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
  }
}
