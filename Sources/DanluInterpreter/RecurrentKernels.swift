import DanluIR
import Foundation

/// The recurrence written out per step, element by element, in Double: the oracle for the GEMM-based C kernel.
enum RecurrentKernels<T: BinaryFloatingPoint & Sendable> {
  static func forward(_ r: RecurrentAttributes, _ x: [Values<T>]) -> [T] {
    let s = x[0].shape
    let (steps, batch, features) = r.batchFirst ? (s[1], s[0], s[2]) : (s[0], s[1], s[2])
    let (h, g, width) = (r.hidden, r.gates, r.stateWidth)
    let (wih, whh, bih, bhh) = (x[1].data.map(Double.init), x[2].data.map(Double.init), x[3].data.map(Double.init), x[4].data.map(Double.init))
    var state = x[5].data.map(Double.init)
    var cell = r.cell == .lstm ? x[6].data.map(Double.init) : []
    func row(_ t: Int, _ n: Int) -> Int { r.batchFirst ? n * steps + t : t * batch + n }
    var out = [T](repeating: 0, count: steps * batch * width)
    func sigmoid(_ v: Double) -> Double { 1 / (1 + exp(-v)) }
    for step in 0..<steps {
      let t = r.reverse ? steps - 1 - step : step
      var next = state, nextCell = cell
      for n in 0..<batch {
        // Input and hidden projections of every gate row, kept apart (the GRU needs them so).
        var fromInput = [Double](repeating: 0, count: g * h), fromHidden = [Double](repeating: 0, count: g * h)
        for k in 0..<(g * h) {
          var a = bih[k], b = bhh[k]
          for i in 0..<features { a += wih[k * features + i] * Double(x[0].data[row(t, n) * features + i]) }
          for j in 0..<h { b += whh[k * h + j] * state[n * h + j] }
          (fromInput[k], fromHidden[k]) = (a, b)
        }
        for j in 0..<h {
          func gate(_ k: Int) -> Double { fromInput[k * h + j] + fromHidden[k * h + j] }
          switch r.cell {
          case .rnnTanh: next[n * h + j] = Foundation.tanh(gate(0))
          case .rnnRelu: next[n * h + j] = max(0, gate(0))
          case .lstm:
            let (i, f, c, o) = (sigmoid(gate(0)), sigmoid(gate(1)), Foundation.tanh(gate(2)), sigmoid(gate(3)))
            nextCell[n * h + j] = f * cell[n * h + j] + i * c
            next[n * h + j] = o * Foundation.tanh(nextCell[n * h + j])
          case .gru:
            let (reset, update) = (sigmoid(gate(0)), sigmoid(gate(1)))
            let candidate = Foundation.tanh(fromInput[2 * h + j] + reset * fromHidden[2 * h + j])
            next[n * h + j] = (1 - update) * candidate + update * state[n * h + j]
          }
          out[row(t, n) * width + j] = T(next[n * h + j])
          if r.cell == .lstm { out[row(t, n) * width + h + j] = T(nextCell[n * h + j]) }
        }
      }
      (state, cell) = (next, nextCell)
    }
    return out
  }
}
