/// How a direct convolution (`Conv2dAttributes.Algorithm.direct`) walks its output: a row of output columns 16 at a
/// time (`vectors` AVX-512 vectors side by side), for a block of `outputBlock` output channels, each filter tap one
/// load of the shifted input row and one broadcast multiply-add per channel of the block. The input is first copied
/// into a zero-bordered plane (rows of `rowStride` floats) so that no load needs a bounds test. No im2col and no GEMM:
/// where a GEMM has a handful of rows (LeNet-5's first convolution: 6 filters of 25 taps over 784 positions)
/// OpenBLAS runs well below its rate and the im2col is a pass over 25× the input.
///
/// With its filters packed (`pack_panels`, `filters`), the vectors run along the output channels instead: up to 12
/// output positions of a row by one 32-wide panel of filters in registers, each tap one load of the panel and one
/// broadcast of each position's input value from the plane, as the packed GEMM does from an im2col (`PackedPanels`)
/// but reading the plane through a table of tap offsets, so that no im2col is written. LeNet-5's second convolution
/// (16 filters over 10×10 outputs, 10 of 16 lanes by rows) measured 2.5 µs that way against 3.2 with im2col + GEMM.
public struct DirectConvolution: Hashable, Sendable {
  /// Whether the filters are packed: vectors along the output channels.
  public let filters: Bool
  /// Vectors of 16 output columns side by side: 2 where a row is wider than 16.
  public let vectors: Int
  /// Output channels whose accumulators sit in registers together: the largest divisor of a group's channels with
  /// `outputBlock · vectors` at most `accumulatorsAtMost`.
  public let outputBlock: Int
  /// Floats per row of the padded plane: the padded input's width, or more so that the last chunk of columns'
  /// loads (a whole `16 · vectors`, at every tap) stay inside the row.
  public let rowStride: Int
  /// Rows per channel of the padded plane.
  public let paddedHeight: Int
  /// Floats of one part's padded plane: a group's input channels.
  public let planeFloats: Int
  /// Threads: 2 from `ConvTiling.partsFrom` multiply-adds (each every other image, or half of a lone image's
  /// (filter block, row) items), else 1.
  public let parts: Int
  /// Whether the parts share one plane: two threads on a lone image's items, one group. Each pads half of the
  /// channels, then both wait at a barrier; each padding the whole image into a plane of its own cost ResNet-18's
  /// layer2.0.conv1 (800 KB of input) 0.77 → 0.75 ms.
  public let sharesPlane: Bool

  /// Accumulators at most: 32 vector registers, less the loaded rows and the broadcast weight.
  static let accumulatorsAtMost = 16
  /// Output channels per group at most for `prefer-direct` by rows: above it the GEMM's rows are enough for
  /// OpenBLAS's kernels (a 16-filter 5×5 convolution of 6 channels over 10×10 measured 3.7 µs by rows against 3.2
  /// with im2col + GEMM, where 6 filters over 28×28 measured 1.5 µs against 3.1).
  public static let outputChannelsAtMost = 8
  /// Share of the computed columns that must be real output columns (the rest are lanes past the row's end).
  public static let usedLanesFrom = 0.75

  /// - Parameters: input (N, C, H, W), weight (O, C/groups, kh, kw) and output (N, O, OH, OW) shapes.
  ///   - filters: whether the filters are packed (vectors along the output channels).
  public init(input x: [Int], weight w: [Int], output y: [Int], attributes a: Conv2dAttributes, filters: Bool = false) {
    self.filters = filters
    let vectors = y[3] > 16 ? 2 : 1, channels = w[0] / a.groups
    self.vectors = vectors
    outputBlock = (1...channels).last { channels % $0 == 0 && $0 * vectors <= Self.accumulatorsAtMost } ?? 1
    let columns = (y[3] + 16 * vectors - 1) / (16 * vectors) * 16 * vectors
    // By filters a position's input is one float at a time: no row needs room for a vector past its end.
    rowStride = filters ? x[3] + 2 * a.padding[1] : max(x[3] + 2 * a.padding[1], columns + (w[3] - 1) * a.dilation[1])
    paddedHeight = x[2] + 2 * a.padding[0]
    planeFloats = x[1] / a.groups * paddedHeight * rowStride
    parts = w.reduce(1, *) * y[0] * y[2] * y[3] >= ConvTiling.partsFrom ? 2 : 1
    sharesPlane = parts > 1 && y[0] == 1 && a.groups == 1
  }

  /// Scratch floats: a padded plane per part, or one they share.
  public var scratchFloats: Int { sharesPlane ? planeFloats : parts * planeFloats }

  /// Whether a convolution can run direct by rows: unit column stride (a tap's columns are one contiguous load).
  public static func fits(_ a: Conv2dAttributes) -> Bool { a.stride[1] == 1 }

  /// Whether `prefer-direct` runs a convolution direct by filters: ungrouped, whole vectors of filters, each filter
  /// larger than 1×1 and of at least `filtersDepthFrom` weights.
  public static func fitsFilters(_ a: Conv2dAttributes, weight w: [Int]) -> Bool {
    a.groups == 1 && PackedPanels.packable(rows: w[0]) && w[2] * w[3] > 1 && w[1] * w[2] * w[3] >= filtersDepthFrom
  }

  /// Filter sizes from which a convolution runs direct by filters: below, the blocks' stores and epilogue outweigh
  /// their few taps (3→16 channels 3×3, 27 weights a filter, measured 1.6× slower than im2col + GEMM).
  public static let filtersDepthFrom = 128

  /// Output columns computed, real or not, per row.
  public func computedColumns(outputWidth: Int) -> Int {
    (outputWidth + 16 * vectors - 1) / (16 * vectors) * 16 * vectors
  }
}

extension Graph {
  /// The direct walk of the convolution at `index` (plain or a fused anchor) when its algorithm is `direct`.
  public func directConvolution(_ index: Int) -> DirectConvolution? {
    guard let conv = forwardConvolution(index), conv.attributes.algorithm == .direct else { return nil }
    let packed = if case .packPanels = nodes[nodes[index].operands[1]].op { true } else { false }
    return DirectConvolution(input: conv.input, weight: conv.weight, output: conv.output, attributes: conv.attributes,
                             filters: packed)
  }
}
