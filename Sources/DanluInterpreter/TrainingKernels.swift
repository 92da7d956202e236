import DanluIR
import Foundation

/// Naive losses and gradient ops (`TrainingOp`), in Double where they accumulate: the oracle for generated
/// training code, and what the gradient checks differentiate numerically.
enum TrainingKernels<T: BinaryFloatingPoint & Sendable> {
  static func evaluate(_ op: TrainingOp, _ x: [Values<T>], outputShape: [Int]) -> [T] {
    switch op {
    case .loss(let l): return [T(loss(l, x[0], x[1]).value)]
    case .lossGrad(let l): return loss(l, x[0], x[1]).gradient
    case .activationGrad(let f): return zip(x[0].data, x[1].data).map { dy, v in T(Double(dy) * derivative(f, Double(v))) }
    case .matmulTransposeA: return matmulTransposeA(x[0], x[1])
    case .biasGrad(let axis):
      let channels = x[0].shape[axis], inner = x[0].shape[(axis + 1)...].reduce(1, *)
      var sums = [Double](repeating: 0, count: channels)
      for (i, v) in x[0].data.enumerated() { sums[(i / inner) % channels] += Double(v) }
      return sums.map(T.init)
    case .conv2dInputGrad(let a, _): return conv2dGrad(dy: x[0], other: x[1], a, outputShape, input: true)
    case .conv2dWeightGrad(let a, _): return conv2dGrad(dy: x[0], other: x[1], a, outputShape, input: false)
    case .maxPool2dGrad(let p): return poolGrad(x[0], x[1], p, max: true)
    case .avgPool2dGrad(let p): return poolGrad(x[0], x[1], p, max: false)
    case .softmaxGrad(let axis, let log): return softmaxGrad(x[0], x[1], axis: axis, log: log)
    case .batchMean, .batchVariance, .batchNormWeightGrad, .batchNormInputGrad: return batchNormTraining(op, x)
    case .layerNormInputGrad(let eps), .layerNormWeightGrad(let eps): return layerNormGrad(op, x, epsilon: eps)
    case .sumToShape: return sumToShape(x[0], x[1].shape)
    case .recurrentGrad(let r): return RecurrentKernels<T>.backward(r, x)
    case .attentionGrad(let a): return AttentionKernels<T>.backward(a, x)
    case .embeddingGrad(let rows):
      let width = x[0].shape.last!
      var out = [Double](repeating: 0, count: rows * width)
      for (i, index) in x[1].data.enumerated() {
        guard let row = Int(exactly: Double(index)), (0..<rows).contains(row) else { continue }
        for k in 0..<width { out[row * width + k] += Double(x[0].data[i * width + k]) }
      }
      return out.map { T($0) }
    case .padAxis(let axis, let start):
      let (dy, shape) = (x[0], x[1].shape)
      let inner = shape[(axis + 1)...].reduce(1, *), outer = shape[..<axis].reduce(1, *)
      let (chunk, total) = (dy.shape[axis] * inner, shape[axis] * inner)
      var out = [T](repeating: 0, count: shape.reduce(1, *))
      for o in 0..<outer { for k in 0..<chunk { out[o * total + start * inner + k] = dy.data[o * chunk + k] } }
      return out
    case .dropoutMask(let p, let salt): return DropoutHash.mask(seed: x[0].data.map(Float.init), salt: salt, p: p, count: x[1].count).map(T.init)
    }
  }

  /// dy summed into `shape`, aligned from the right as NumPy broadcasts.
  static func sumToShape(_ dy: Values<T>, _ shape: [Int]) -> [T] {
    let padded = Array(repeating: 1, count: dy.shape.count - shape.count) + shape
    let targetStrides = Kernels<T>.strides(padded), sourceStrides = Kernels<T>.strides(dy.shape)
    var out = [Double](repeating: 0, count: shape.reduce(1, *))
    for i in 0..<dy.count {
      var (target, rest) = (0, i)
      for d in dy.shape.indices {
        let coordinate = rest / sourceStrides[d]
        rest %= sourceStrides[d]
        if padded[d] != 1 { target += coordinate * targetStrides[d] }
      }
      out[target] += Double(dy.data[i])
    }
    return out.map { T($0) }
  }

  /// Layer-norm gradients per row of the last axis, in Double.
  static func layerNormGrad(_ op: TrainingOp, _ x: [Values<T>], epsilon: Float) -> [T] {
    let (dy, input) = (x[0], x[1])
    let length = input.shape.last!
    var dx = [Double](repeating: 0, count: input.count), dGamma = [Double](repeating: 0, count: length)
    for row in 0..<(input.count / max(1, length)) {
      let values = (0..<length).map { Double(input.data[row * length + $0]) }
      let mean = values.reduce(0, +) / Double(length)
      let inverse = 1 / (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(length) + Double(epsilon)).squareRoot()
      let normalized = values.map { ($0 - mean) * inverse }
      let d = (0..<length).map { Double(dy.data[row * length + $0]) }
      for k in 0..<length { dGamma[k] += d[k] * normalized[k] }
      if case .layerNormInputGrad = op {
        let g = (0..<length).map { d[$0] * Double(x[2].data[$0]) }
        let meanG = g.reduce(0, +) / Double(length)
        let meanGX = zip(g, normalized).reduce(0) { $0 + $1.0 * $1.1 } / Double(length)
        for k in 0..<length { dx[row * length + k] = inverse * (g[k] - meanG - normalized[k] * meanGX) }
      }
    }
    if case .layerNormWeightGrad = op { return dGamma.map { T($0) } }
    return dx.map { T($0) }
  }

  /// Batch statistics per channel (axis 1) and the gradients of batch norm computed with them, in Double.
  static func batchNormTraining(_ op: TrainingOp, _ x: [Values<T>]) -> [T] {
    let input = { if case .batchMean = op { x[0] } else if case .batchVariance = op { x[0] } else { x[1] } }()
    let channels = input.shape[1], inner = input.shape[2...].reduce(1, *)
    let count = Double(input.count / channels)
    func channel(_ i: Int) -> Int { (i / inner) % channels }
    func sums(_ term: (Int) -> Double) -> [Double] {
      var result = [Double](repeating: 0, count: channels)
      for i in 0..<input.count { result[channel(i)] += term(i) }
      return result
    }
    switch op {
    case .batchMean: return sums { Double(input.data[$0]) }.map { T($0 / count) }
    case .batchVariance:
      return sums { let d = Double(input.data[$0]) - Double(x[1].data[channel($0)]); return d * d }.map { T($0 / count) }
    case .batchNormWeightGrad(let eps), .batchNormInputGrad(let eps):
      let (dy, mean, variance) = (x[0], x[2], x[3])
      let inverse = variance.data.map { 1 / (Double($0) + Double(eps)).squareRoot() }
      func normalized(_ i: Int) -> Double { (Double(input.data[i]) - Double(mean.data[channel(i)])) * inverse[channel(i)] }
      let dGamma = sums { Double(dy.data[$0]) * normalized($0) }
      if case .batchNormWeightGrad = op { return dGamma.map { T($0) } }
      let dBeta = sums { Double(dy.data[$0]) }
      let gamma = x[4]
      return (0..<input.count).map { i in
        let c = channel(i)
        let centered = Double(dy.data[i]) - dBeta[c] / count - normalized(i) * dGamma[c] / count
        return T(Double(gamma.data[c]) * inverse[c] * centered)
      }
    default: preconditionFailure("not a batch-norm training op")
    }
  }

  /// f′(x) for each activation, PyTorch's conventions at the kinks (relu′(0) = 0).
  static func derivative(_ f: Op, _ x: Double) -> Double {
    switch f {
    case .relu: return x > 0 ? 1 : 0
    case .leakyRelu(let slope): return x > 0 ? 1 : Double(slope)
    case .sigmoid:
      let s = 1 / (1 + exp(-x))
      return s * (1 - s)
    case .tanh:
      let t = Foundation.tanh(x)
      return 1 - t * t
    case .gelu: return 0.5 * (1 + erf(x / 2.0.squareRoot())) + x * exp(-x * x / 2) / (2 * Double.pi).squareRoot()
    case .silu:
      let s = 1 / (1 + exp(-x))
      return s + x * s * (1 - s)
    default: preconditionFailure("no derivative for \(f.mnemonic)")
    }
  }

  /// A loss and its gradient with respect to the prediction, straight from PyTorch's definitions.
  static func loss(_ l: Loss, _ y: Values<T>, _ t: Values<T>) -> (value: Double, gradient: [T]) {
    switch l {
    case .crossEntropy(let smoothing): return crossEntropy(y, t, smoothing)
    case .nll:
      let (n, c) = (y.shape[0], y.shape[1])
      var gradient = [T](repeating: 0, count: n * c)
      var total = 0.0
      for row in 0..<n {
        let label = Int(t.data[row])
        total -= Double(y.data[row * c + label])
        gradient[row * c + label] = T(-1 / Double(n))
      }
      return (total / Double(n), gradient)
    case .klDivergence:
      let n = Double(y.shape[0])
      let value = zip(y.data, t.data).reduce(0.0) { sum, pair in
        let (logP, target) = (Double(pair.0), Double(pair.1))
        return target > 0 ? sum + target * (log(target) - logP) : sum
      }
      return (value / n, t.data.map { T(-Double($0) / n) })
    case .mse, .l1, .bce, .bceWithLogits:
      // Elementwise: the mean of f(y, t) over every element, and f′(y, t) / count.
      let count = Double(y.count)
      var value = 0.0
      var gradient = [T](repeating: 0, count: y.count)
      for i in 0..<y.count {
        let (p, q) = (Double(y.data[i]), Double(t.data[i]))
        let (f, slope): (Double, Double)
        switch l {
        case .mse: (f, slope) = ((p - q) * (p - q), 2 * (p - q))
        case .l1: (f, slope) = (abs(p - q), p > q ? 1 : p < q ? -1 : 0)
        case .bce:
          f = -(q * max(log(p), -100) + (1 - q) * max(log(1 - p), -100))
          slope = (p - q) / max(p * (1 - p), 1e-12)
        default:
          f = max(p, 0) - p * q + log(1 + exp(-abs(p)))
          slope = 1 / (1 + exp(-p)) - q
        }
        value += f
        gradient[i] = T(slope / count)
      }
      return (value / count, gradient)
    }
  }

  static func crossEntropy(_ logits: Values<T>, _ labels: Values<T>, _ smoothing: Float) -> (value: Double, gradient: [T]) {
    let (n, c) = (logits.shape[0], logits.shape[1])
    var loss = 0.0
    var gradient = [T](repeating: 0, count: n * c)
    let eps = Double(smoothing)
    for row in 0..<n {
      let values = (0..<c).map { Double(logits.data[row * c + $0]) }
      let peak = values.max()!
      let logTotal = log(values.reduce(0) { $0 + exp($1 - peak) }) + peak
      let label = Int(labels.data[row])
      for k in 0..<c {
        let target = (k == label ? 1 - eps : 0) + eps / Double(c)
        loss -= target * (values[k] - logTotal)
        gradient[row * c + k] = T((exp(values[k] - logTotal) - target) / Double(n))
      }
    }
    return (loss / Double(n), gradient)
  }

  static func matmulTransposeA(_ a: Values<T>, _ b: Values<T>) -> [T] {
    let (m, k) = (a.shape.last!, b.shape.last!)
    let rows = a.count / m
    var out = [Double](repeating: 0, count: m * k)
    for r in 0..<rows {
      for i in 0..<m {
        let av = Double(a.data[r * m + i])
        if av == 0 { continue }
        for j in 0..<k { out[i * k + j] += av * Double(b.data[r * k + j]) }
      }
    }
    return out.map(T.init)
  }

  /// Both convolution gradients walk the forward's index relation backwards.
  static func conv2dGrad(dy: Values<T>, other: Values<T>, _ a: Conv2dAttributes, _ outShape: [Int], input: Bool) -> [T] {
    // For the input gradient `other` is w and outShape is x's; for the weight gradient `other` is x.
    var out = [Double](repeating: 0, count: outShape.reduce(1, *))
    if input {
      Kernels<T>.forEachConvTap(outShape, other.shape, dy.shape, a) { xi, wi, yi in out[xi] += Double(dy.data[yi]) * Double(other.data[wi]) }
    } else {
      Kernels<T>.forEachConvTap(other.shape, outShape, dy.shape, a) { xi, wi, yi in out[wi] += Double(dy.data[yi]) * Double(other.data[xi]) }
    }
    return out.map(T.init)
  }

  static func poolGrad(_ dy: Values<T>, _ x: Values<T>, _ p: PoolAttributes, max isMax: Bool) -> [T] {
    let (h, w) = (x.shape[2], x.shape[3])
    let (oh, ow) = (dy.shape[2], dy.shape[3])
    var out = [Double](repeating: 0, count: x.count)
    for plane in 0..<(x.shape[0] * x.shape[1]) {
      for y in 0..<oh {
        for xx in 0..<ow {
          let d = Double(dy.data[(plane * oh + y) * ow + xx])
          let (y0, x0) = (y * p.stride[0] - p.padding[0], xx * p.stride[1] - p.padding[1])
          var window: [Int] = []
          for ky in 0..<p.kernel[0] {
            let iy = y0 + ky * p.dilation[0]
            if iy < 0 || iy >= h { continue }
            for kx in 0..<p.kernel[1] {
              let ix = x0 + kx * p.dilation[1]
              if ix >= 0 && ix < w { window.append((plane * h + iy) * w + ix) }
            }
          }
          if isMax {
            var best = window[0]
            for i in window where x.data[i] > x.data[best] { best = i }
            out[best] += d
          } else {
            let windowH = Swift.min(y0 + p.kernel[0], h + p.padding[0]) - y0
            let windowW = Swift.min(x0 + p.kernel[1], w + p.padding[1]) - x0
            let divisor = Double(p.countIncludePad ? windowH * windowW : window.count)
            for i in window { out[i] += d / divisor }
          }
        }
      }
    }
    return out.map(T.init)
  }

  static func softmaxGrad(_ dy: Values<T>, _ x: Values<T>, axis: Int, log: Bool) -> [T] {
    let y = Kernels<T>.softmax(x, axis: axis, log: false)
    let length = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
    var out = [T](repeating: 0, count: x.count)
    for o in 0..<(x.count / (length * inner)) {
      for i in 0..<inner {
        let base = o * length * inner + i
        var dot = 0.0
        for k in 0..<length {
          let at = base + k * inner
          dot += log ? Double(dy.data[at]) : Double(dy.data[at]) * Double(y[at])
        }
        for k in 0..<length {
          let at = base + k * inner
          out[at] = T(log ? Double(dy.data[at]) - Double(y[at]) * dot : Double(y[at]) * (Double(dy.data[at]) - dot))
        }
      }
    }
    return out
  }
}
