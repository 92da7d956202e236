/// How a GEMM convolution walks its output. Measured here (OpenBLAS, 2 threads): a GEMM narrower than a few hundred
/// columns runs at a third of sgemm's rate (512×49×4608: 59 GFLOP/s; 512×784×4608: 186), so images with few output
/// positions share one GEMM. (Cutting large images into bands of output rows, so that their im2col stays in L2,
/// measured slower here: im2col of a whole 56×56 image costs a fifth of its GEMM, and narrower GEMMs lose more.)
public struct ConvTiling: Hashable, Sendable {
  /// Images per GEMM; above 1 the GEMM writes a staging buffer that the epilogue scatters to NCHW.
  public let images: Int

  /// Columns a GEMM should have to run near sgemm's rate.
  static let columnsTarget = 768

  public init(batch: Int, groups: Int, spatial: Int) {
    images = groups == 1 && spatial < Self.columnsTarget ? max(1, min(batch, (Self.columnsTarget + spatial - 1) / spatial)) : 1
  }

  /// Scratch floats: the im2col columns (none for a single pointwise image) and, when images share a GEMM, its output.
  public func scratchFloats(depth k: Int, outputChannels o: Int, spatial: Int, pointwise: Bool) -> Int {
    if images > 1 { return (k + o) * images * spatial }
    return pointwise ? 0 : k * spatial
  }
}
