/// How a Winograd F(2×2, 3×3) convolution whose filters are packed at load time (`pack-weights`) walks its tiles: in
/// items of whole tile rows of one image, about `tilesTarget` tiles each, that the two threads claim as they go. An item
/// transforms its input tiles for every channel (V[16][I][tiles]), multiplies them on the C backend's own panel kernel
/// by the transformed filters U (16 matrices O×I, each in 32-wide panels as `pack_panels` stores a weight), and
/// transforms the products M[16][O][tiles] back with the epilogue. V and M of 28 tiles stay in L2 (64 channels: 115 KB
/// each), where the whole image's (`WinogradTiling`) went to L3, and no GEMM zeroes M first (OpenBLAS's `sgemm_beta`).
/// ResNet-18 at batch 1, paired in one process against the convolution it replaces: layer1 1.16–1.18× (OpenBLAS
/// products over half the image), layer2 1.20–1.36× and layer3 1.15–1.21× (direct convolutions); at batch 64 its
/// layer1–3 1.1–1.6× against OpenBLAS's products over groups of images (Benchmarks/RESULTS.md).
public struct WinogradBlocks: Hashable, Sendable {
  /// Tiles an item aims for: 28 measured ahead of 14 and 56 on layer2 (128 channels), and of 14 on layer3 (256).
  public static let tilesTarget = 28
  /// The largest transformed filters (floats, 16·O·I) this path takes: ResNet's 256 channels measured; 512 (16 MB of
  /// U streamed per run) not.
  public static let filterFloatsAtMost = 16 * 256 * 256

  public let images: Int
  public let inputChannels: Int
  public let outputChannels: Int
  /// 2×2 output tiles per image: rows and columns.
  public let tileRows: Int
  public let tileColumns: Int
  /// Tile rows per item (the last item of an image may have fewer).
  public let rowsPerItem: Int

  /// - Parameters: weight (O, I, 3, 3) and output (N, O, OH, OW) shapes.
  public init(weight w: [Int], output y: [Int]) {
    images = y[0]
    outputChannels = w[0]
    inputChannels = w[1]
    tileRows = (y[2] + 1) / 2
    tileColumns = (y[3] + 1) / 2
    rowsPerItem = min(tileRows, max(1, Self.tilesTarget / max(1, tileColumns)))
  }

  /// Items per image, and in all.
  public var itemsPerImage: Int { (tileRows + rowsPerItem - 1) / rowsPerItem }
  public var items: Int { images * itemsPerImage }
  /// Tiles of a full item.
  public var itemTiles: Int { rowsPerItem * tileColumns }
  /// Threads: two when there are two items.
  public var parts: Int { min(2, items) }
  /// Floats of the packed filters: 16 matrices of O×I.
  public var filterFloats: Int { 16 * outputChannels * inputChannels }

  /// Whether this path suits a convolution: its filters fit `filterFloatsAtMost` and pack into panels (whole vectors
  /// of output channels), and both threads get an item.
  public var fits: Bool { filterFloats <= Self.filterFloatsAtMost && PackedPanels.packable(rows: outputChannels) && items >= 2 }

  /// Scratch floats of one part: V and M for an item, then the item's four padded input rows of one channel as their
  /// even and odd columns (`Graph.winogradHalfWidth` each).
  public var partFloats: Int {
    16 * (inputChannels + outputChannels) * itemTiles + 8 * Graph.winogradHalfWidth(2 * tileColumns)
  }
  public var scratchFloats: Int { parts * partFloats }
}

extension Graph {
  /// For a Winograd convolution (plain or a fused anchor) whose weight is `pack_panels`: how it walks its tiles; nil
  /// for any other node.
  public func winogradBlocks(_ index: Int) -> WinogradBlocks? {
    guard let conv = forwardConvolution(index), conv.attributes.algorithm == .winograd,
          case .packPanels = nodes[nodes[index].operands[1]].op else { return nil }
    return WinogradBlocks(weight: conv.weight, output: conv.output)
  }

  /// For `pack_panels` read by a Winograd convolution: that convolution's blocks (the values hold U, not the
  /// weight's order of it); nil otherwise.
  public func winogradFilters(_ value: Int) -> WinogradBlocks? {
    guard case .packPanels = nodes[value].op else { return nil }
    for index in nodes.indices where nodes[index].operands.count > 1 && nodes[index].operands[1] == value {
      if let blocks = winogradBlocks(index) { return blocks }
    }
    return nil
  }

  /// The floats `value` is stored in: its type's, except transformed Winograd filters (16 per 3×3 filter).
  public func storedFloats(_ value: Int) -> Int {
    winogradFilters(value)?.filterFloats ?? nodes[value].type.staticShape!.reduce(1, *)
  }
}
