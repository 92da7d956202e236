/// How a GEMM convolution walks its output. Measured here (OpenBLAS, 2 threads): a GEMM narrower than a few hundred
/// columns runs well below sgemm's rate (512×49×4608: 59–126 GFLOP/s between runs; 512×784×4608: 186–203), so images
/// with few output positions share one GEMM. (Cutting large images into bands of output rows, so that their im2col
/// stays in L2, measured slower here: im2col of a whole 56×56 image costs a fifth of its GEMM, and narrower GEMMs
/// lose more.)
public struct ConvTiling: Hashable, Sendable {
  /// Images per GEMM; above 1 the GEMM writes a staging buffer that the epilogue scatters to NCHW.
  public let images: Int
  /// A lone small image (batch 1) as a pixels × channels GEMM, colsᵀ · Wᵀ, into the staging buffer: OpenBLAS splits
  /// its wider side over the two threads (512×49×4608: 126 GFLOP/s channels-major, 158 pixels-major; ResNet-18's
  /// layer4 convolutions 2.0 → 1.8 ms each at batch 1). At 14×14 it loses (layer3: 1.46 → 1.55 ms), hence the bound.
  public let pixelsMajor: Bool
  static let pixelsMajorBelow = 100
  /// Below this many multiply-adds OpenBLAS runs one thread anyway, and staging only costs a copy.
  static let pixelsMajorFrom = 2 * 1024 * 1024

  /// Columns a GEMM should have to run near sgemm's rate.
  static let columnsTarget = 768

  /// Image groups (one GEMM each) run at once: with two or more, two threads take every other group, each with its
  /// own scratch and single-threaded GEMMs, so that im2col and the epilogue run on both cores too (with OpenBLAS's
  /// two threads, the other core waited through them).
  public let parts: Int

  /// - Parameter products: multiply-adds per image.
  public init(batch: Int, groups: Int, spatial: Int, products: Int) {
    images = groups == 1 && spatial < Self.columnsTarget ? max(1, min(batch, (Self.columnsTarget + spatial - 1) / spatial)) : 1
    pixelsMajor = groups == 1 && spatial < Self.pixelsMajorBelow && images == 1 && products >= Self.pixelsMajorFrom
    parts = min(2, (batch + images - 1) / images)
  }

  /// Whether the GEMM writes the staging buffer (several images, or pixels-major) rather than the output itself.
  public var staged: Bool { images > 1 || pixelsMajor }

  /// Scratch floats: for each part the im2col columns (none for a single pointwise image) and, when staged, the
  /// GEMM's output.
  public func scratchFloats(depth k: Int, outputChannels o: Int, spatial: Int, pointwise: Bool) -> Int {
    parts * partFloats(depth: k, outputChannels: o, spatial: spatial, pointwise: pointwise)
  }

  /// Scratch floats of one part.
  public func partFloats(depth k: Int, outputChannels o: Int, spatial: Int, pointwise: Bool) -> Int {
    if staged { return (k + o) * images * spatial }
    return pointwise ? 0 : k * spatial
  }
}
