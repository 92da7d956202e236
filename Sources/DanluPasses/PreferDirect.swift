import DanluIR

/// `prefer-direct` (default): direct loops (`DirectConvolution`), no im2col, for two kinds of convolution that
/// `prefer-winograd` left to im2col + GEMM:
/// - by rows: at most 8 output channels per group, unit column stride, rows that fill at least 75% of the 16-wide
///   vectors they are computed in;
/// - by filters (the filters packed by `pack-weights`, so not in a train step, whose weights change): ungrouped,
///   output channels a multiple of 16, filters of at least 128 weights (`DirectConvolution.filtersDepthFrom`) larger
///   than 1×1;
/// never a pointwise one (1×1, stride 1, unpadded: its GEMM reads the input in place).
///
///     %2 = conv2d(%0, %1) {dilation=[1,1] groups=1 padding=[2,2] stride=[1,1]} : f32[1,6,28,28]
///     // becomes
///     %2 = conv2d(%0, %1) {algorithm="direct" dilation=[1,1] groups=1 padding=[2,2] stride=[1,1]} : f32[1,6,28,28]
///
/// By rows: a GEMM with a handful of rows runs far below OpenBLAS's rate, and its im2col copies the input once per
/// tap: LeNet-5's first convolution (6 filters of 5×5 over 28×28) measured 1.5 µs direct against 3.1 µs as im2col +
/// GEMM. Measured with `danlu bench` (Benchmarks/RESULTS.md has the tables): 3→8 channels 3×3 over 32×32 1.6× faster
/// at batch 1, 1.4× at 16; over 224×224 1.8–2.2×; 16→8 over 32×32 4–10× at batch 1, even at 16; a depthwise 3×3 over
/// 32 channels of 56×56 2×. Rows of 10 columns (10 lanes of 16) measured 1.2–1.4× slower, hence the used lanes; a
/// pointwise 64→1 convolution over 64×64 2× slower at batch 1. By rows, 16 filters lose (LeNet-5's second: 3.7 µs
/// against 3.2); by filters they win: 16→32 over 16×16 1.4× at batch 1 (even at 16), 32→64 over 8×8 2.3× and 1.65×,
/// 64→64 stride 2 over 56×56 1.25× and 1.2×, 16→16 5×5 over 32×32 1.8× and 1.6–2.4×, ResNet-18 at batch 1 10.6 → 9.5
/// ms (its 3×3 convolutions outside layer1, packed GEMMs with an im2col before), VGG16 at batch 1 95 → 90 ms; but
/// 3→16 over 32×32 (27 weights a filter) 1.6× slower, and ResNet-18's 1×1 stride-2 downsampling at batch 64 1.4–1.8×
/// slower, hence the depth and kernel bounds.
public let preferDirect = Pass(name: "prefer-direct",
                               summary: "direct vector loops: few filters by rows, deep ones by filters") { graph in
  let trains = graph.nodes.contains { if case .training = $0.op { true } else { false } }
  return graph.mappingConvolutions { a, w, y in
    guard a.algorithm == .gemm, !a.isPointwise(kernel: [w[2], w[3]]) else { return a }
    var chosen = a
    chosen.algorithm = .direct
    if !trains && DirectConvolution.fitsFilters(a, weight: w) { return chosen }
    guard DirectConvolution.fits(a), w[0] / a.groups <= DirectConvolution.outputChannelsAtMost else { return a }
    let plan = DirectConvolution(input: [y[0], w[1] * a.groups, y[2], y[3]], weight: w, output: y, attributes: chosen)
    let usedLanes = Double(y[3]) / Double(plan.computedColumns(outputWidth: y[3]))
    return usedLanes >= DirectConvolution.usedLanesFrom ? chosen : a
  }
}
