/// How a Winograd F(2×2, 3×3) convolution groups its images. Its 16 GEMMs per group have K = input channels (64–512
/// in ResNets), which OpenBLAS runs near its rate only when they are wide (measured here, 2 threads: 64×784×64
/// 168 GFLOP/s, 64×1568×64 178, 256×49×256 140, 256×784×256 195, 512×16×512 84, 512×512×512 207), so several images'
/// tiles sit side by side in one GEMM, as `ConvTiling` does for im2col; a lone group is cut into two blocks of tile
/// rows so that both threads have one.
public struct WinogradTiling: Hashable, Sendable {
  /// Images whose tiles share the 16 GEMMs.
  public let images: Int
  /// 2×2 output tiles per image, and their rows.
  public let tiles: Int
  public let tileRows: Int
  /// Blocks of tile rows each group is cut into: 2 when the batch makes one group (batch 1), so that two threads
  /// share it, else 1.
  public let rowBlocks: Int

  /// Columns a group's GEMMs aim for.
  static let columnsTarget = 512
  /// At most this many floats of transformed tiles (input and products, 16 positions each) per group: 32 MB, the
  /// last-level cache here.
  static let tileFloatsLimit = 8 * 1024 * 1024

  /// - Parameters: weight (O, I, 3, 3) and output (N, O, OH, OW) shapes.
  public init(weight w: [Int], output y: [Int]) {
    tiles = Graph.winogradTiles(y[2], y[3])
    let wanted = (Self.columnsTarget + tiles - 1) / tiles
    let fitting = Self.tileFloatsLimit / max(1, 16 * (w[0] + w[1]) * tiles)
    images = max(1, min(y[0], wanted, fitting))
    groups = (y[0] + images - 1) / images
    tileRows = (y[2] + 1) / 2
    rowBlocks = groups == 1 && tileRows >= 2 ? 2 : 1
  }

  /// Groups of images in a batch of `batch`.
  public let groups: Int
  /// Work items (a group's block of tile rows) that run at once, each on its own thread with its own tiles (two
  /// cores here), every part's GEMMs single-threaded. (One thread transforming while OpenBLAS's second thread waited
  /// was half of the convolution's time.)
  public var parts: Int { min(2, groups * rowBlocks) }

  /// GEMM columns of a whole group.
  public var columns: Int { images * tiles }
  /// GEMM columns of a work item at most: a group, or its larger block of tile rows.
  public var itemColumns: Int { rowBlocks == 1 ? columns : images * (tileRows + 1) / 2 * (tiles / tileRows) }

  /// Scratch floats: transformed weights U[16][O][I], then for each part input tiles V[16][I][itemColumns], products
  /// M[16][O][itemColumns] and one zero-bordered input plane as its even and odd columns.
  public func scratchFloats(weight w: [Int], output y: [Int]) -> Int {
    16 * w[0] * w[1] + parts * partFloats(weight: w, output: y)
  }

  /// Scratch floats of one part.
  public func partFloats(weight w: [Int], output y: [Int]) -> Int {
    16 * (w[1] + w[0]) * itemColumns + 2 * Graph.winogradPaddedHeight(y[2]) * Graph.winogradHalfWidth(y[3])
  }
}
