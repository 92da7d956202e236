/// How a GEMM convolution walks its output. Measured here (OpenBLAS, 2 threads): a GEMM narrower than a few hundred
/// columns runs well below sgemm's rate (512×49×4608: 59–126 GFLOP/s between runs; 512×784×4608: 186–203), so images
/// with few output positions share one GEMM. Convolutions large enough run on two threads, each with its own work
/// items and single-threaded GEMMs (`parts`). (Cutting a batch's large images into bands of output rows, so that
/// their im2col stays in L2, measured slower with two-thread GEMMs: narrower GEMMs lost more than L2 gained. A lone
/// image's bands, one thread each, are what lets both cores work on it.)
public struct ConvTiling: Hashable, Sendable {
  /// Images per GEMM; above 1 the GEMM writes a staging buffer that the epilogue scatters to NCHW.
  public let images: Int
  /// Output positions below which a lone image is split by output channels rather than rows.
  static let narrowBelow = 100

  /// Columns a GEMM should have to run near sgemm's rate.
  static let columnsTarget = 768

  /// Blocks of output rows each unstaged image is cut into, enough that a block's im2col fits in about 1 MB (half
  /// this machine's L2 per core): for a lone image (batch 1) an even number, so that two threads share it; for a
  /// batch's images only while blocks stay wide; 1 otherwise.
  public let rowBlocks: Int
  /// Output rows per image.
  public let rows: Int
  /// A lone image too narrow to split by rows (fewer than `narrowBelow` positions, ResNet-18's layer4 at batch 1) is
  /// split by output channels instead: both threads fill half of its im2col rows, meet, and each multiplies half of
  /// the filters, single-threaded (256×49×4608 runs 88 GFLOP/s on one core; the whole 512×49×4608 on two threads
  /// 120–130; layer4 at batch 1 1.94–1.98 → 1.84–1.89 ms, bound by reading its weights). This replaced a
  /// pixels-major GEMM (colsᵀ · Wᵀ, which OpenBLAS had split better over two threads: 2.0 → 1.8 ms).
  public let splitsChannels: Bool
  /// Work items (an image group, or a block of a lone image's rows; one GEMM each) run at once: with two or more, two
  /// threads take every other item, each with its own scratch and single-threaded GEMMs, so that im2col and the
  /// epilogue run on both cores too (with OpenBLAS's two threads, the other core waited through them).
  public let parts: Int

  /// im2col floats a block of rows aims to stay under.
  static let blockFloats = 256 * 1024
  /// Columns a block of a batch's image keeps at least.
  static let blockColumnsFrom = 1024

  /// - Parameters:
  ///   - depth: the GEMM's depth (a group's filter size).
  ///   - products: multiply-adds per image.
  public init(batch: Int, groups: Int, rows: Int, spatial: Int, depth: Int, products: Int) {
    images = groups == 1 && spatial < Self.columnsTarget ? max(1, min(batch, (Self.columnsTarget + spatial - 1) / spatial)) : 1
    let items = (batch + images - 1) / images
    let threaded = batch * products >= Self.partsFrom
    splitsChannels = threaded && groups == 1 && items == 1 && images == 1 && spatial < Self.narrowBelow
    self.rows = rows
    let blocks = (depth * spatial + Self.blockFloats - 1) / Self.blockFloats
    let halves = (depth * spatial + 2 * Self.blockFloats - 1) / (2 * Self.blockFloats)
    if !threaded || images > 1 || splitsChannels || rows < 2 {
      rowBlocks = 1
    } else {
      // With several images, a block keeps at least `blockColumnsFrom` columns (narrower GEMMs lost more than L2
      // gained: layer2.0.conv1 at batch 64 in blocks of 392 columns, 40–43 → 45–49 ms; the stem in blocks of 1568,
      // 119–128 → 95–117 ms).
      rowBlocks = min(rows, items == 1 ? 2 * max(1, halves) : max(1, min(blocks, spatial / Self.blockColumnsFrom)))
    }
    parts = threaded ? min(2, splitsChannels ? 2 : items * rowBlocks) : 1
  }

  /// Below this many multiply-adds a convolution runs on one thread: waking a second costs more than it saves
  /// (LeNet-5's convolutions at batch 1 are 0.1–0.2M).
  static let partsFrom = 2 * 1024 * 1024

  /// Whether the GEMM writes the staging buffer (several images) rather than the output itself.
  public var staged: Bool { images > 1 }

  /// Scratch floats: for each part the im2col columns (none for a single pointwise image) and, when staged, the
  /// GEMM's output.
  public func scratchFloats(depth k: Int, outputChannels o: Int, spatial: Int, pointwise: Bool) -> Int {
    if splitsChannels { return pointwise ? 0 : k * spatial }  // one im2col, shared
    return parts * partFloats(depth: k, outputChannels: o, spatial: spatial, pointwise: pointwise)
  }

  /// Scratch floats of one part: its larger block of rows.
  public func partFloats(depth k: Int, outputChannels o: Int, spatial: Int, pointwise: Bool) -> Int {
    if staged { return (k + o) * images * spatial }
    return pointwise ? 0 : k * (spatial / rows) * ((rows + rowBlocks - 1) / rowBlocks)
  }
}
