import DanluDiagnostics
import DanluIR
import DanluRuntime

extension Commands {
  /// `danlu data FILE.idx[.gz] -o x.npy`: a slice of an IDX file as float32 `.npy`; images get a channel axis, so
  /// `[count, 28, 28]` becomes `[count, 1, 28, 28]`, ready for an NCHW model.
  /// Pixels (not labels) become `(x − mean) / std`, the normalization a spec's `train.normalize` declares.
  public static func exportData(_ path: String, start: Int, count: Int, output: String, mean: Float = 0, std: Float = 1)
    throws(DriverFailure) -> String
  {
    do throws(DiagnosticError) {
      let all = try IDX.read(path)
      let items = all.shape[0], itemSize = all.count / max(1, items)
      guard start >= 0, count > 0, start + count <= items else {
        throw DiagnosticError(.runtimeFailed("\(path) holds \(items) items; cannot take \(count) from \(start)"), at: .unknown)
      }
      guard std > 0 else { throw DiagnosticError(.runtimeFailed("--std must be positive, got \(std)"), at: .unknown) }
      var data = Array(all.data[(start * itemSize)..<((start + count) * itemSize)])
      if all.shape.count > 1 { data = data.map { ($0 - mean) / std } }
      let shape = [count] + (all.shape.count == 3 ? [1] : []) + all.shape.dropFirst()
      try NPY.write(Tensor(shape: shape, data: data), to: output)
      let values = all.shape.count == 1 ? " values \(data.map { String(Int($0 * 255)) }.joined(separator: " "))" : ""
      return "wrote \(output): \(shape)\(values)\n"
    } catch {
      throw DriverFailure(DiagnosticRenderer().render(error))
    }
  }
}
