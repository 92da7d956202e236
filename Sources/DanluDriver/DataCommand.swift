import DanluDiagnostics
import DanluIR
import DanluRuntime

extension Commands {
  /// `danlu data FILE.idx[.gz] -o x.npy`: a slice of an IDX file as float32 `.npy`; images get a channel axis, so
  /// `[count, 28, 28]` becomes `[count, 1, 28, 28]`, ready for an NCHW model.
  public static func exportData(_ path: String, start: Int, count: Int, output: String) throws(DriverFailure) -> String {
    do throws(DiagnosticError) {
      let all = try IDX.read(path)
      let items = all.shape[0], itemSize = all.count / max(1, items)
      guard start >= 0, count > 0, start + count <= items else {
        throw DiagnosticError(.runtimeFailed("\(path) holds \(items) items; cannot take \(count) from \(start)"), at: .unknown)
      }
      let data = Array(all.data[(start * itemSize)..<((start + count) * itemSize)])
      let shape = [count] + (all.shape.count == 3 ? [1] : []) + all.shape.dropFirst()
      try NPY.write(Tensor(shape: shape, data: data), to: output)
      let values = all.shape.count == 1 ? " values \(data.map { String(Int($0 * 255)) }.joined(separator: " "))" : ""
      return "wrote \(output): \(shape)\(values)\n"
    } catch {
      throw DriverFailure(DiagnosticRenderer().render(error))
    }
  }
}
