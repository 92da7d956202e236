import DanluIR

/// `prefer-direct` (default): direct loops (`DirectConvolution`) for convolutions with at most 8 output channels per
/// group, unit column stride, and rows that fill at least 75% of the 16-wide vectors they are computed in, unless
/// pointwise (1×1, stride 1, unpadded); every other convolution keeps its algorithm (im2col + GEMM, or Winograd as
/// `prefer-winograd` chose).
///
///     %2 = conv2d(%0, %1) {dilation=[1,1] groups=1 padding=[2,2] stride=[1,1]} : f32[1,6,28,28]
///     // becomes
///     %2 = conv2d(%0, %1) {algorithm="direct" dilation=[1,1] groups=1 padding=[2,2] stride=[1,1]} : f32[1,6,28,28]
///
/// A GEMM with that few rows runs far below OpenBLAS's rate, and its im2col copies the input once per tap: LeNet-5's
/// first convolution (6 filters of 5×5 over 28×28) measured 1.5 µs direct against 3.1 µs as im2col + GEMM. With 16
/// filters (its second, over 10×10 outputs) the GEMM won, 3.2 against 3.7 µs, hence the bound on output channels.
/// Measured with `danlu bench` (Benchmarks/RESULTS.md has the table): 3→8 channels 3×3 over 32×32 1.6× faster at
/// batch 1, 1.4× at 16; over 224×224 1.8–2.2×; 16→8 over 32×32 4–10× at batch 1 (the GEMM's second thread cost more
/// than it saved), even at 16; a depthwise 3×3 over 32 channels of 56×56 2×. Rows of 10 columns (10 lanes of 16:
/// 6→8 channels, 5×5 or 3×3 over 10×10 outputs) measured 1.2–1.4× slower, hence the used lanes; a pointwise 64→1
/// convolution over 64×64 2× slower at batch 1 (its GEMM reads the input in place, the direct loop copies it).
public let preferDirect = Pass(name: "prefer-direct",
                               summary: "direct vector loops for convolutions with few output channels") { graph in
  graph.mappingConvolutions { a, w, y in
    guard a.algorithm == .gemm, DirectConvolution.fits(a), !a.isPointwise(kernel: [w[2], w[3]]),
          w[0] / a.groups <= DirectConvolution.outputChannelsAtMost else { return a }
    var chosen = a
    chosen.algorithm = .direct
    let plan = DirectConvolution(input: [y[0], w[1] * a.groups, y[2], y[3]], weight: w, output: y, attributes: chosen)
    let usedLanes = Double(y[3]) / Double(plan.computedColumns(outputWidth: y[3]))
    return usedLanes >= DirectConvolution.usedLanesFrom ? chosen : a
  }
}
