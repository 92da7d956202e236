/// Where every intermediate lives in the one arena of a compiled function (offsets in floats), and the figures
/// `danlu compile` reports. Made by the `plan-memory` pass; codegen reads it.
public struct MemoryPlan: Hashable, Sendable {
  /// Arena offset (floats) of every value that is not an input, parameter or view.
  public var offsets: [Int: Int]
  /// Where each convolution's im2col scratch starts; it is only live during that convolution.
  public var scratchOffsets: [Int: Int]
  public var arenaFloats: Int
  /// The arena's first floats hold the load-time values (`Graph.loadTimeValues`: folded batch-norm weights…),
  /// written once by `prepare`. They are the weights a run actually reads, so the summary counts them under
  /// `weights=`, and `arena=`, `lower_bound=` and `naive=` cover the per-run part only.
  public var loadTimeFloats: Int = 0
  /// The peak of simultaneously live bytes: no plan can use less.
  public var lowerBoundBytes: Int
  /// Every intermediate and every scratch buffer in its own slot.
  public var naiveBytes: Int
  public var weightBytes: Int

  public init(offsets: [Int: Int], scratchOffsets: [Int: Int], arenaFloats: Int, lowerBoundBytes: Int, naiveBytes: Int,
              weightBytes: Int) {
    self.offsets = offsets
    self.scratchOffsets = scratchOffsets
    self.arenaFloats = arenaFloats
    self.lowerBoundBytes = lowerBoundBytes
    self.naiveBytes = naiveBytes
    self.weightBytes = weightBytes
  }

  /// The per-run part of the arena.
  public var arenaBytes: Int { (arenaFloats - loadTimeFloats) * 4 }

  /// `memory: arena=B lower_bound=B naive=B weights=B`, the line scripts read (weights include folded ones).
  public var summary: String {
    "memory: arena=\(arenaBytes) lower_bound=\(lowerBoundBytes) naive=\(naiveBytes) weights=\(weightBytes + loadTimeFloats * 4)"
  }
}

/// Buffers start on 64-byte boundaries (16 floats): a cache line, and aligned vector loads.
public enum StorageAlignment {
  public static let floats = 16

  public static func aligned(_ count: Int) -> Int { (count + floats - 1) / floats * floats }
}

extension Graph {
  /// A forward convolution's attributes and its input, weight and output shapes (a plain `conv2d` or a fused group's
  /// anchor); nil for any other node or unbound shapes.
  public func forwardConvolution(_ index: Int) -> (attributes: Conv2dAttributes, input: [Int], weight: [Int], output: [Int])? {
    let node = nodes[index]
    let attributes: Conv2dAttributes
    switch node.op {
    case .conv2d(let a): attributes = a
    case .fused(let group):
      guard case .conv2d(let a) = group.anchor else { return nil }
      attributes = a
    default: return nil
    }
    guard let x = nodes[node.operands[0]].type.staticShape, let w = nodes[node.operands[1]].type.staticShape,
          let y = node.type.staticShape else { return nil }
    return (attributes, x, w, y)
  }

  private func convShapes(_ index: Int) -> (Conv2dAttributes, [Int], [Int])? {
    let node = nodes[index]
    switch node.op {
    // The gradients' im2col / col2im buffer has the forward's size: weight shape and output (dy) shape.
    case .training(.conv2dInputGrad(let a, _)):
      guard let w = nodes[node.operands[1]].type.staticShape, let dy = nodes[node.operands[0]].type.staticShape else { return nil }
      return (a, w, dy)
    case .training(.conv2dWeightGrad(let a, _)):
      guard let w = node.type.staticShape, let dy = nodes[node.operands[0]].type.staticShape else { return nil }
      return (a, w, dy)
    default:
      return forwardConvolution(index).map { ($0.attributes, $0.weight, $0.output) }
    }
  }

  /// Floats of im2col scratch a convolution needs: as its `ConvTiling` walks the output for a forward convolution,
  /// one image and one group at a time for the gradients; none for a single 1×1 stride-1 image.
  public func scratchFloats(_ index: Int) -> Int {
    // A fused recurrent step (C backend) reads x and both weights, packed at load time by `pack-weights` or else on
    // every call here (a train step's forward, the pipeline without the pass). The GEMM path (hidden not a multiple of
    // 16) keeps the input projection of every step and one step's hidden projection. CUDA has a buffer of its own.
    if case .recurrent(let r) = nodes[index].op, let x = nodes[nodes[index].operands[0]].type.staticShape {
      let gateRows = r.gates * r.hidden
      guard r.fusesSteps else { return (x[0] * x[1] + (r.batchFirst ? x[0] : x[1])) * gateRows }
      let unpacked = zip(nodes[index].operands[1...2], [x[2], r.hidden]).filter { nodes[$0.0].op != .packPanels }
      return unpacked.reduce(0) { $0 + gateRows * $1.1 }
    }
    // Its backward pass also keeps every step's gate gradients and the carried state gradients.
    if case .training(.recurrentGrad(let r)) = nodes[index].op, let x = nodes[nodes[index].operands[1]].type.staticShape {
      let batch = r.batchFirst ? x[0] : x[1]
      return 2 * (x[0] * x[1] + batch) * r.gates * r.hidden + 4 * batch * r.hidden
    }
    // Attention keeps a block of query rows' scores, and one head's keys transposed (`forwardScratchFloats`); its
    // gradient one block of at most 64 query rows' scores and their gradients.
    if case .attention(let a) = nodes[index].op, let q = nodes[nodes[index].operands[0]].type.staticShape,
       let k = nodes[nodes[index].operands[1]].type.staticShape {
      return a.forwardScratchFloats(q: q, k: k)
    }
    if case .training(.attentionGrad(let a)) = nodes[index].op, let q = nodes[nodes[index].operands[1]].type.staticShape,
       let k = nodes[nodes[index].operands[2]].type.staticShape {
      return 2 * min(64, a.batchAndLength(q).length) * a.batchAndLength(k).length
    }
    guard let (a, w, y) = convShapes(index) else { return 0 }
    let pointwise = a.isPointwise(kernel: [w[2], w[3]])
    if let blocks = winogradBlocks(index) { return blocks.scratchFloats }
    if a.algorithm == .winograd { return WinogradTiling(weight: w, output: y).scratchFloats(weight: w, output: y) }
    if let direct = directConvolution(index) { return direct.scratchFloats }
    // A packed convolution fills one image's im2col, which both threads share.
    if let packed = packedConvolution(index) { return pointwise ? 0 : packed.depth * packed.spatial }
    if case .training = nodes[index].op { return pointwise ? 0 : w[1] * w[2] * w[3] * y[2] * y[3] }
    return a.tiling(weight: w, output: y).scratchFloats(depth: w[1] * w[2] * w[3], outputChannels: w[0],
                                                         spatial: y[2] * y[3], pointwise: pointwise)
  }

  /// How a forward im2col convolution walks its output (`ConvTiling`); nil for the gradients, Winograd and direct.
  public func convTiling(_ index: Int) -> ConvTiling? {
    guard let conv = forwardConvolution(index), conv.attributes.algorithm == .gemm, packedConvolution(index) == nil
    else { return nil }
    return conv.attributes.tiling(weight: conv.weight, output: conv.output)
  }

  /// 2×2 output tiles covering an OH×OW output.
  public static func winogradTiles(_ height: Int, _ width: Int) -> Int { ((height + 1) / 2) * ((width + 1) / 2) }

  /// The zero-bordered input plane Winograd reads its 4×4 tiles from: 2 rows per tile and 2 more; it holds the input
  /// at its padding offset (OH = H + 2·padding − 2, so H + padding ≤ 2·⌈OH/2⌉ + 2).
  public static func winogradPaddedHeight(_ outputHeight: Int) -> Int { 2 * ((outputHeight + 1) / 2) + 2 }
  /// Its columns are split into even and odd halves of this many: one per tile, rounded up to 16 (the transforms
  /// run whole vectors), and one more.
  public static func winogradHalfWidth(_ outputWidth: Int) -> Int { ((outputWidth + 1) / 2 + 15) / 16 * 16 + 1 }

  /// The value whose storage `value` uses: itself, or for a reshape (a view) its source's.
  public func storageRoot(_ value: Int) -> Int {
    var current = value
    while case .reshape = nodes[current].op { current = nodes[current].operands[0] }
    return current
  }
}

extension Conv2dAttributes {
  /// A 1×1, stride-1, unpadded convolution reads its input directly as the GEMM operand.
  public func isPointwise(kernel: [Int]) -> Bool { kernel == [1, 1] && stride == [1, 1] && padding == [0, 0] }

  /// How the forward GEMM convolution with this weight shape and output shape walks its output.
  public func tiling(weight w: [Int], output y: [Int]) -> ConvTiling {
    ConvTiling(batch: y[0], groups: groups, rows: y[2], spatial: y[2] * y[3], depth: w[1] * w[2] * w[3],
               products: w.reduce(1, *) * y[2] * y[3])
  }
}
