/// Scaled dot-product attention over heads, the core of PyTorch's `nn.MultiheadAttention` after its projections:
/// for every batch row n and head h, with D = E / heads and the head's columns [h·D, (h+1)·D) of q, k and v,
///
///     out[n, :, head h] = softmax(q kᵀ / √D + mask) · v
///
/// Operands: q [N, Sq, E], k [N, Sk, E], v [N, Sk, E] (sequence first, [S, N, E], unless `batchFirst`), then, when
/// `keyPadding`, a mask [N, Sk] whose nonzero entries hide those keys (PyTorch's `key_padding_mask`, True = ignore).
/// `causal` hides key j from query i when j > i (`is_causal`, `generate_square_subsequent_mask`). A query that sees
/// no key at all gets NaN, as PyTorch's reference path does. The result has q's shape: the heads side by side.
public struct AttentionAttributes: Hashable, Sendable {
  public var heads: Int
  public var causal: Bool
  public var keyPadding: Bool
  public var batchFirst: Bool

  public init(heads: Int, causal: Bool = false, keyPadding: Bool = false, batchFirst: Bool = false) {
    self.heads = heads
    self.causal = causal
    self.keyPadding = keyPadding
    self.batchFirst = batchFirst
  }

  public var operandCount: Int { keyPadding ? 4 : 3 }

  /// (batch, length) of a [N, S, E] or [S, N, E] operand's shape.
  public func batchAndLength<D>(_ shape: [D]) -> (batch: D, length: D) {
    batchFirst ? (shape[0], shape[1]) : (shape[1], shape[0])
  }

  /// Whether the forward kernel runs its own vector loops (a head size that is a multiple of 16) rather than two
  /// GEMMs per block of queries.
  public func vectorizedForward(width: Int) -> Bool { (width / heads) % 16 == 0 }

  /// Keys rounded up to the vector kernel's chunks of 64.
  public static func paddedKeys(_ keys: Int) -> Int { (keys + 63) / 64 * 64 }

  /// Floats of scratch the forward kernel needs: for the vector loops one head's keys transposed and four query rows'
  /// scores ((head size + 4) × padded keys); for the GEMMs one block of up to 64 query rows' scores.
  public func forwardScratchFloats(q: [Int], k: [Int]) -> Int {
    let (queries, keys) = (batchAndLength(q).length, batchAndLength(k).length)
    guard vectorizedForward(width: q[2]) else { return min(64, queries) * keys }
    return forwardParts(q: q, k: k) * (q[2] / heads + 4) * Self.paddedKeys(keys)
  }

  /// Threads the vector kernel's (batch row, head) pairs run on, each with its own scratch: two when there are two
  /// pairs and at least 2M multiply-adds of scores and weighted sums.
  public func forwardParts(q: [Int], k: [Int]) -> Int {
    let (batch, queries) = batchAndLength(q)
    let macs = 2 * batch * queries * batchAndLength(k).length * q[2]
    return batch * heads >= 2 && macs >= 2 * 1024 * 1024 ? 2 : 1
  }
}
