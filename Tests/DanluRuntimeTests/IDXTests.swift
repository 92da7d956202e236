import DanluDiagnostics
import DanluRuntime
import DanluTestSupport
import Foundation
import Testing

@Suite struct IDXTests {
  let folder = Repository.temporaryFolder()

  func problem(_ path: String) -> String? {
    do { _ = try IDX.read(path); return nil } catch { return error.diagnostics[0].message }
  }

  /// A 2×2×3 image file: magic 0x00000803, dims big-endian, then bytes.
  let images: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3] + (0..<12).map { UInt8($0 * 20) }

  @Test func readsPlainAndGzippedFiles() throws {
    let plain = try IDX.read(folder.file("f.idx", images))
    #expect(plain.shape == [2, 2, 3])
    #expect(plain.data[1] == Float(20) / 255)
    let path = folder.file("g.idx", images)
    let gzip = Process()
    gzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    gzip.arguments = ["gzip", "-f", path]
    try gzip.run()
    gzip.waitUntilExit()
    #expect(try IDX.read(path + ".gz") == plain)
  }

  @Test func rejectsBrokenFiles() {
    #expect(problem(folder.file("f.idx", Array(images.dropLast(3))))?.contains("promises [2, 2, 3] = 12 values but the file holds 9 (truncated)") == true)
    #expect(problem(folder.file("f.idx", [1, 2, 3, 4, 5]))?.contains("bad magic") == true)
    #expect(problem(folder.file("f.idx", [0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0]))?.contains("only unsigned bytes") == true)
    #expect(problem(folder.file("f.idx", [0, 0, 8, 3, 0, 0]))?.contains("truncated header") == true)
    #expect(problem(folder.file("bad.gz", [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])) != nil)
    #expect(problem(folder.appendingPathComponent("absent.idx").path)?.contains("cannot open") == true)
  }

  static let fashion = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"

  @Test(.enabled(if: FileManager.default.fileExists(atPath: fashion), "needs the dataset-fashion-mnist package"))
  func readsFashionMNISTLabels() throws {
    let labels = try IDX.read(Self.fashion)
    #expect(labels.shape == [10_000])
    #expect(Array(labels.data.prefix(4).map { Int(($0 * 255).rounded()) }) == [9, 2, 1, 1])
  }
}
