import DanluDiagnostics
import DanluIR
import DanluRuntime
import Foundation

extension Commands {
  /// `danlu bench`: median latency of `forward` over `runs` timed runs after warm-up, on seeded weights and random
  /// inputs; with `profile`, a per-kernel table first. The last line is `bench: median_ms=X min_ms=Y max_ms=Z runs=K`.
  public static func bench(_ path: String, _ options: BuildOptions, runs: Int, warmup: Int = 3, profile: Bool,
                           threads: Int?, weights file: String? = nil) throws(DriverFailure) -> String {
    let (model, graph, source, loader) = try generate(path, options)
    do throws(DiagnosticError) {
      guard runs > 0 else { throw DiagnosticError(.runtimeFailed("--runs needs a positive count"), at: .unknown) }
      let weightSet = try weights(file, model, graph, seed: 0)
      var inputs: [String: Tensor] = [:]
      for (i, value) in graph.inputs.enumerated() {
        inputs[graph.inputName(value)!] = Tensor.random(graph.nodes[value].type.staticShape!, seed: UInt64(i + 1))
      }
      return try inProcess(source, graph.name, defines: profile ? ["DANLU_PROFILE"] : []) { (compiled) throws(DiagnosticError) in
        if let threads { compiled.setThreads(threads) }
        let session = try Session(compiled, inputs: inputs, weights: weightSet)
        var before: [Double] = []
        let times = timeRuns(runs, warmup: warmup, afterWarmup: { before = compiled.profile.map(\.milliseconds) }) {
          session.forward()
        }
        var report = ""
        if profile {
          let kernels = zip(compiled.profile, before).map { ($0.0.name, $0.0.flops, ($0.0.milliseconds - $0.1) / Double(runs)) }
          report = profileTable(kernels)
        }
        return report + benchLine(times)
      }
    } catch {
      throw DriverFailure(loader.renderer.render(error))
    }
  }

  /// Sorted milliseconds of `runs` timed calls after a warm-up on time as well as count (clocks ramp and BLAS
  /// threads wake within ~100 ms).
  static func timeRuns(_ runs: Int, warmup: Int = 3, afterWarmup: () -> Void = {}, _ body: () -> Void) -> [Double] {
    let warmStart = DispatchTime.now().uptimeNanoseconds
    var warmRuns = 0
    while warmRuns < warmup || (DispatchTime.now().uptimeNanoseconds - warmStart < 100_000_000 && warmRuns < 10_000) {
      body()
      warmRuns += 1
    }
    afterWarmup()
    var times: [Double] = []
    for _ in 0..<runs {
      let start = DispatchTime.now().uptimeNanoseconds
      body()
      times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    return times.sorted()
  }

  /// `bench: median_ms=X min_ms=Y max_ms=Z runs=K`, the line scripts read.
  static func benchLine(_ times: [Double]) -> String {
    let runs = times.count
    let median = runs % 2 == 1 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2
    return "bench: median_ms=\(format(median)) min_ms=\(format(times[0])) max_ms=\(format(times[runs - 1])) runs=\(runs)\n"
  }

  static func format(_ value: Double) -> String { String(format: "%.4f", value) }

  /// Kernel, milliseconds per run, share of the total, and achieved GFLOP/s; the costliest first.
  static func profileTable(_ kernels: [(name: String, flops: Int, ms: Double)]) -> String {
    let total = max(kernels.reduce(0) { $0 + $1.ms }, 1e-12)
    var rows = [["kernel", "ms", "share", "GFLOP/s"]]
    for k in kernels.sorted(by: { $0.ms > $1.ms }) {
      rows.append([k.name, format(k.ms), String(format: "%.1f%%", 100 * k.ms / total),
                   k.ms > 0 ? String(format: "%.1f", Double(k.flops) / (k.ms * 1e6)) : "-"])
    }
    rows.append(["total", format(total), "100.0%", ""])
    let widths = (0..<4).map { c in rows.map { $0[c].count }.max()! }
    return rows.map { row in
      row.enumerated().map { c, cell in
        c == 0 ? cell.padding(toLength: widths[0], withPad: " ", startingAt: 0)
          : String(repeating: " ", count: widths[c] - cell.count) + cell
      }.joined(separator: "  ")
    }.joined(separator: "\n") + "\n"
  }
}
