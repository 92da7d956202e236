import DanluIR
import Foundation

/// The recurrence written out per step, element by element, in Double: the oracle for the GEMM-based C kernel.
enum RecurrentKernels<T: BinaryFloatingPoint & Sendable> {
  /// Every gate row's input projection W_ih·x + b_ih and hidden projection W_hh·h + b_hh, kept apart (the GRU needs
  /// them so), for one batch row at one step.
  static func projections(_ wih: [Double], _ whh: [Double], _ bih: [Double], _ bhh: [Double], _ x: [Double], _ h: [Double])
    -> (input: [Double], hidden: [Double])
  {
    var fromInput = bih, fromHidden = bhh
    for k in bih.indices {
      for i in x.indices { fromInput[k] += wih[k * x.count + i] * x[i] }
      for j in h.indices { fromHidden[k] += whh[k * h.count + j] * h[j] }
    }
    return (fromInput, fromHidden)
  }

  static func forward(_ r: RecurrentAttributes, _ x: [Values<T>]) -> [T] {
    let s = x[0].shape
    let (steps, batch, features) = r.batchFirst ? (s[1], s[0], s[2]) : (s[0], s[1], s[2])
    let (h, width) = (r.hidden, r.stateWidth)
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
        let inputs = (0..<features).map { Double(x[0].data[row(t, n) * features + $0]) }
        let (fromInput, fromHidden) = projections(wih, whh, bih, bhh, inputs, Array(state[(n * h)..<((n + 1) * h)]))
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

  /// Backpropagation through time: operands (dResult, x, weight_ih, weight_hh, bias_ih, bias_hh, h0, [c0], result);
  /// every operand's gradient flattened in that order. Gates are recomputed from the saved states.
  static func backward(_ r: RecurrentAttributes, _ x: [Values<T>]) -> [T] {
    let d = x[0].data.map(Double.init), input = x[1]
    let s = input.shape
    let (steps, batch, features) = r.batchFirst ? (s[1], s[0], s[2]) : (s[0], s[1], s[2])
    let (h, g, width) = (r.hidden, r.gates, r.stateWidth)
    let (wih, whh, bih, bhh) = (x[2].data.map(Double.init), x[3].data.map(Double.init), x[4].data.map(Double.init), x[5].data.map(Double.init))
    let h0 = x[6].data.map(Double.init)
    let c0 = r.cell == .lstm ? x[7].data.map(Double.init) : []
    let result = x[r.operandCount + 1].data.map(Double.init)
    func row(_ t: Int, _ n: Int) -> Int { r.batchFirst ? n * steps + t : t * batch + n }
    func sigmoid(_ v: Double) -> Double { 1 / (1 + exp(-v)) }
    var dx = [Double](repeating: 0, count: input.count), dwih = [Double](repeating: 0, count: wih.count)
    var dwhh = [Double](repeating: 0, count: whh.count), dbih = [Double](repeating: 0, count: bih.count)
    var dbhh = [Double](repeating: 0, count: bhh.count)
    var carryH = [Double](repeating: 0, count: batch * h), carryC = [Double](repeating: 0, count: batch * h)
    for step in stride(from: steps - 1, through: 0, by: -1) {
      let t = r.reverse ? steps - 1 - step : step
      let before = r.reverse ? t + 1 : t - 1
      var nextH = [Double](repeating: 0, count: batch * h), nextC = [Double](repeating: 0, count: batch * h)
      for n in 0..<batch {
        let previous = (0..<h).map { j in step > 0 ? result[row(before, n) * width + j] : h0[n * h + j] }
        let previousCell = r.cell == .lstm ? (0..<h).map { j in step > 0 ? result[row(before, n) * width + h + j] : c0[n * h + j] } : []
        let inputs = (0..<features).map { Double(input.data[row(t, n) * features + $0]) }
        let (fromInput, fromHidden) = projections(wih, whh, bih, bhh, inputs, previous)
        var dInput = [Double](repeating: 0, count: g * h), dHidden = [Double](repeating: 0, count: g * h)
        for j in 0..<h {
          let dh = d[row(t, n) * width + j] + carryH[n * h + j]
          func gate(_ k: Int) -> Double { fromInput[k * h + j] + fromHidden[k * h + j] }
          switch r.cell {
          case .rnnTanh, .rnnRelu:
            let out = result[row(t, n) * width + j]
            let da = r.cell == .rnnTanh ? dh * (1 - out * out) : (out > 0 ? dh : 0)
            (dInput[j], dHidden[j]) = (da, da)
          case .lstm:
            let (i, f, c, o) = (sigmoid(gate(0)), sigmoid(gate(1)), Foundation.tanh(gate(2)), sigmoid(gate(3)))
            let tc = Foundation.tanh(result[row(t, n) * width + h + j])
            let dc = d[row(t, n) * width + h + j] + carryC[n * h + j] + dh * o * (1 - tc * tc)
            let pre = [dc * c * i * (1 - i), dc * previousCell[j] * f * (1 - f), dc * i * (1 - c * c), dh * tc * o * (1 - o)]
            for k in 0..<4 { (dInput[k * h + j], dHidden[k * h + j]) = (pre[k], pre[k]) }
            nextC[n * h + j] = dc * f
          case .gru:
            let (reset, update) = (sigmoid(gate(0)), sigmoid(gate(1)))
            let hn = fromHidden[2 * h + j]
            let candidate = Foundation.tanh(fromInput[2 * h + j] + reset * hn)
            let dan = dh * (1 - update) * (1 - candidate * candidate)
            let dar = dan * hn * reset * (1 - reset), daz = dh * (previous[j] - candidate) * update * (1 - update)
            (dInput[j], dInput[h + j], dInput[2 * h + j]) = (dar, daz, dan)
            (dHidden[j], dHidden[h + j], dHidden[2 * h + j]) = (dar, daz, dan * reset)
            nextH[n * h + j] += dh * update
          }
        }
        for k in 0..<(g * h) {
          dbih[k] += dInput[k]
          dbhh[k] += dHidden[k]
          for i in 0..<features {
            dwih[k * features + i] += dInput[k] * Double(input.data[row(t, n) * features + i])
            dx[row(t, n) * features + i] += dInput[k] * wih[k * features + i]
          }
          for j in 0..<h {
            dwhh[k * h + j] += dHidden[k] * previous[j]
            nextH[n * h + j] += dHidden[k] * whh[k * h + j]
          }
        }
      }
      (carryH, carryC) = (nextH, nextC)
    }
    let packed = dx + dwih + dwhh + dbih + dbhh + carryH + (r.cell == .lstm ? carryC : [])
    return packed.map { T($0) }
  }
}
