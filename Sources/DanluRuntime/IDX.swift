import CZlib
import DanluDiagnostics
import DanluIR

/// IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed. Unsigned-byte data is scaled to [0, 1].
public enum IDX {
  /// Reading stops here: no data set Danlu reads is larger, and a gzip bomb must not exhaust memory.
  static let maximumBytes = 1 << 30

  public static func read(_ path: String) throws(DiagnosticError) -> Tensor {
    func fail(_ problem: String) -> DiagnosticError {
      DiagnosticError(.badTensorFile(path: path, problem: problem), at: .unknown)
    }
    guard let file = gzopen(path, "rb") else { throw fail("cannot open the file") }
    defer { gzclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let count = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
      if count < 0 { throw fail("corrupt gzip data") }
      if count == 0 { break }
      bytes += chunk[0..<Int(count)]
      if bytes.count > maximumBytes { throw fail("larger than \(maximumBytes) bytes") }
    }
    guard bytes.count >= 4, bytes[0] == 0, bytes[1] == 0 else { throw fail("not an IDX file (bad magic)") }
    guard bytes[2] == 0x08 else { throw fail("element type 0x\(String(bytes[2], radix: 16)) is not supported (only unsigned bytes)") }
    let rank = Int(bytes[3])
    guard (1...4).contains(rank), bytes.count >= 4 + 4 * rank else { throw fail("truncated header") }
    var shape: [Int] = []
    for d in 0..<rank {
      let offset = 4 + 4 * d
      shape.append(bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) })
    }
    let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? .max : $0 * $1 }
    let available = bytes.count - 4 - 4 * rank
    guard count == available else {
      throw fail("the header promises \(shape) = \(count) values but the file holds \(available)\(available < count ? " (truncated)" : "")")
    }
    return Tensor(shape: shape, data: bytes[(4 + 4 * rank)...].map { Float($0) / 255 })
  }
}
