import DanluIR
import Foundation

/// Attention written out per query row in Double: the oracle for the blocked GEMM kernel in C.
enum AttentionKernels<T: BinaryFloatingPoint & Sendable> {
  /// The shapes every loop needs: batch, query and key lengths, embedding size, head size, and where a row starts.
  struct Geometry {
    let a: AttentionAttributes
    let batch: Int, queries: Int, keys: Int, width: Int, headSize: Int

    init(_ a: AttentionAttributes, q: [Int], k: [Int]) {
      self.a = a
      (batch, queries) = a.batchAndLength(q)
      keys = a.batchAndLength(k).length
      width = q[2]
      headSize = q[2] / a.heads
    }

    /// The first element of position s of batch row n, for a tensor of length `length`.
    func row(_ n: Int, _ s: Int, length: Int) -> Int { a.batchFirst ? (n * length + s) * width : (s * batch + n) * width }
  }

  /// Each query row's attention weights over the keys for one head (zero where masked; NaN when all are).
  static func weights(_ g: Geometry, _ x: [Values<T>], n: Int, head: Int, query i: Int) -> [Double] {
    let (q, k) = (x[0].data, x[1].data)
    let scale = 1 / Double(g.headSize).squareRoot(), column = head * g.headSize
    var scores = [Double](repeating: -.infinity, count: g.keys)
    for j in 0..<g.keys {
      if g.a.causal && j > i { continue }
      if g.a.keyPadding && x[3].data[n * g.keys + j] != 0 { continue }
      var dot = 0.0
      for d in 0..<g.headSize {
        dot += Double(q[g.row(n, i, length: g.queries) + column + d]) * Double(k[g.row(n, j, length: g.keys) + column + d])
      }
      scores[j] = dot * scale
    }
    let peak = scores.max() ?? -.infinity
    guard peak > -.infinity else { return scores.map { _ in .nan } }
    let exps = scores.map { exp($0 - peak) }
    let total = exps.reduce(0, +)
    return exps.map { $0 / total }
  }

  static func forward(_ a: AttentionAttributes, _ x: [Values<T>]) -> [T] {
    let g = Geometry(a, q: x[0].shape, k: x[1].shape)
    var out = [T](repeating: 0, count: x[0].count)
    for n in 0..<g.batch {
      for head in 0..<a.heads {
        for i in 0..<g.queries {
          let p = weights(g, x, n: n, head: head, query: i)
          for d in 0..<g.headSize {
            let column = head * g.headSize + d
            var sum = 0.0
            for j in 0..<g.keys where p[j] != 0 || p[j].isNaN { sum += p[j] * Double(x[2].data[g.row(n, j, length: g.keys) + column]) }
            out[g.row(n, i, length: g.queries) + column] = T(sum)
          }
        }
      }
    }
    return out
  }

  /// (dy, q, k, v, [mask]) → dq, dk and dv flattened one after another:
  /// dv_j += p_j·dy_i, ds_j = p_j (dy_i·v_j − Σ_l p_l dy_i·v_l), dq_i += Σ_j ds_j k_j / √D, dk_j += ds_j q_i / √D.
  static func backward(_ a: AttentionAttributes, _ x: [Values<T>]) -> [T] {
    let dy = x[0], operands = Array(x.dropFirst())
    let g = Geometry(a, q: operands[0].shape, k: operands[1].shape)
    let (q, k, v) = (operands[0].data, operands[1].data, operands[2].data)
    let scale = 1 / Double(g.headSize).squareRoot()
    var dq = [Double](repeating: 0, count: q.count), dk = [Double](repeating: 0, count: k.count)
    var dv = [Double](repeating: 0, count: v.count)
    for n in 0..<g.batch {
      for head in 0..<a.heads {
        let column = head * g.headSize
        for i in 0..<g.queries {
          let p = weights(g, operands, n: n, head: head, query: i)
          let qi = g.row(n, i, length: g.queries) + column
          var dp = [Double](repeating: 0, count: g.keys)
          for j in 0..<g.keys where p[j] != 0 {
            let kj = g.row(n, j, length: g.keys) + column
            for d in 0..<g.headSize {
              dv[kj + d] += p[j] * Double(dy.data[qi + d])
              dp[j] += Double(dy.data[qi + d]) * Double(v[kj + d])
            }
          }
          let mean = zip(p, dp).reduce(0) { $0 + ($1.0 == 0 ? 0 : $1.0 * $1.1) }
          for j in 0..<g.keys where p[j] != 0 {
            let ds = p[j] * (dp[j] - mean) * scale, kj = g.row(n, j, length: g.keys) + column
            for d in 0..<g.headSize {
              dq[qi + d] += ds * Double(k[kj + d])
              dk[kj + d] += ds * Double(q[qi + d])
            }
          }
        }
      }
    }
    return (dq + dk + dv).map { T($0) }
  }
}
