import DanluIR
import Foundation

/// Naive implementations of every computing op, on row-major buffers of float32 (the oracle for generated code) or
/// float64 (finite differences for the gradient checks); math accumulates in Double either way.
enum Kernels<T: BinaryFloatingPoint & Sendable> {
  static func evaluate(_ op: Op, _ x: [Values<T>], outputShape: [Int]) -> [T] {
    switch op {
    case .input, .parameter, .buffer: preconditionFailure("leaves are bound, not evaluated")
    case .fill(let value): return Array(repeating: T(value), count: outputShape.reduce(1, *))
    case .sinusoid:
      let width = outputShape[1]
      return (0..<outputShape.reduce(1, *)).map { i in
        let (position, column) = (Double(i / width), i % width)
        let angle = position / pow(10000, Double(column - column % 2) / Double(width))
        return T(column % 2 == 0 ? sin(angle) : cos(angle))
      }
    case .relu: return x[0].data.map { max($0, 0) }
    case .leakyRelu(let slope): return x[0].data.map { $0 >= 0 ? $0 : $0 * T(slope) }
    case .sigmoid: return x[0].data.map { T(1 / (1 + exp(-Double($0)))) }
    case .tanh: return x[0].data.map { T(Foundation.tanh(Double($0))) }
    case .gelu: return x[0].data.map { T(0.5 * Double($0) * (1 + erf(Double($0) / 2.0.squareRoot()))) }
    case .silu: return x[0].data.map { T(Double($0) / (1 + exp(-Double($0)))) }
    case .add: return broadcast(x[0], x[1], outputShape, +)
    case .mul: return broadcast(x[0], x[1], outputShape, *)
    case .matmul(let transposeB): return matmul(x[0], x[1], transposeB: transposeB)
    case .packPanels: return x[0].data  // the same values; only the C backend's storage order differs
    case .biasAdd(let axis): return biasAdd(x[0], x[1], axis: axis)
    case .conv2d(let a): return conv2d(x[0], x[1], a, outputShape)
    case .batchNorm(let eps): return batchNorm(x, epsilon: eps)
    case .layerNorm(let eps): return layerNorm(x, epsilon: eps)
    case .embedding:
      let (table, width) = (x[1], x[1].shape[1])
      return x[0].data.flatMap { index -> ArraySlice<T> in
        let row = Int(exactly: Double(index)) ?? -1
        guard (0..<table.shape[0]).contains(row) else { return ArraySlice(repeating: T.nan, count: width) }
        return table.data[(row * width)..<((row + 1) * width)]
      }
    case .maxPool2d(let p): return pool(x[0], p, outputShape, max: true)
    case .avgPool2d(let p): return pool(x[0], p, outputShape, max: false)
    case .adaptiveAvgPool2d: return adaptiveAvgPool(x[0], outputShape)
    case .softmax(let axis): return softmax(x[0], axis: axis, log: false)
    case .logSoftmax(let axis): return softmax(x[0], axis: axis, log: true)
    case .reshape, .dropout: return x[0].data
    case .concat(let axis): return concat(x, axis: axis, outputShape)
    case .slice(let axis, let start, _):
      return slice(x[0], outputShape, axis: axis, start: start < 0 ? x[0].shape[axis] + start : start)
    case .recurrent(let r): return RecurrentKernels<T>.forward(r, x)
    case .attention(let a): return AttentionKernels<T>.forward(a, x)
    case .fused(let group): return fused(group, x, outputShape)
    case .training(let op): return TrainingKernels<T>.evaluate(op, x, outputShape: outputShape)
    }
  }

  /// A kernel group is its anchor followed by each epilogue step, exactly as if unfused.
  static func fused(_ group: FusedGroup, _ x: [Values<T>], _ outputShape: [Int]) -> [T] {
    var value: Values<T>
    switch group.anchor {
    case .conv2d(let a): value = Values<T>(shape: outputShape, data: conv2d(x[0], x[1], a, outputShape))
    case .matmul(let t): value = Values<T>(shape: outputShape, data: matmul(x[0], x[1], transposeB: t))
    case .elementwise: value = x[0]
    }
    for step in group.epilogue {
      value.data = evaluate(group.op(of: step), [value] + group.operands(of: step).map { x[$0] }, outputShape: outputShape)
    }
    return value.data
  }

  static func strides(_ shape: [Int]) -> [Int] {
    var strides = Array(repeating: 1, count: shape.count)
    for i in stride(from: shape.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * shape[i + 1] }
    return strides
  }

  static func broadcast(_ a: Values<T>, _ b: Values<T>, _ shape: [Int], _ f: (T, T) -> T) -> [T] {
    let outStrides = strides(shape)
    func sourceStrides(_ t: Values<T>) -> [Int] {
      let padded = Array(repeating: 1, count: shape.count - t.shape.count) + t.shape
      return zip(padded, strides(padded)).map { $0.0 == 1 ? 0 : $0.1 }
    }
    let (sa, sb) = (sourceStrides(a), sourceStrides(b))
    var out = [T](repeating: 0, count: shape.reduce(1, *))
    for i in out.indices {
      var (ia, ib, rest) = (0, 0, i)
      for d in shape.indices {
        let coordinate = rest / outStrides[d]
        rest %= outStrides[d]
        ia += coordinate * sa[d]
        ib += coordinate * sb[d]
      }
      out[i] = f(a.data[ia], b.data[ib])
    }
    return out
  }

  static func matmul(_ a: Values<T>, _ b: Values<T>, transposeB: Bool) -> [T] {
    let k = a.shape.last!
    let m = a.count / k
    let n = transposeB ? b.shape[0] : b.shape[1]
    var out = [T](repeating: 0, count: m * n)
    for i in 0..<m {
      for j in 0..<n {
        var sum = 0.0
        for p in 0..<k { sum += Double(a.data[i * k + p]) * Double(transposeB ? b.data[j * k + p] : b.data[p * n + j]) }
        out[i * n + j] = T(sum)
      }
    }
    return out
  }

  static func biasAdd(_ x: Values<T>, _ bias: Values<T>, axis: Int) -> [T] {
    let inner = x.shape[(axis + 1)...].reduce(1, *)
    let channels = x.shape[axis]
    return x.data.enumerated().map { i, v in v + bias.data[(i / inner) % channels] }
  }

  static func conv2d(_ x: Values<T>, _ w: Values<T>, _ a: Conv2dAttributes, _ outShape: [Int]) -> [T] {
    var out = [Double](repeating: 0, count: outShape.reduce(1, *))
    forEachConvTap(x.shape, w.shape, outShape, a) { xi, wi, yi in out[yi] += Double(x.data[xi]) * Double(w.data[wi]) }
    return out.map(T.init)
  }

  /// The index relation of a convolution, y[n,o,oy,ox] += x[n,c,iy,ix] · w[o,ic,ky,kx]: `body(xi, wi, yi)` for every
  /// tap inside the input. The forward and both gradients walk it.
  static func forEachConvTap(_ xShape: [Int], _ wShape: [Int], _ yShape: [Int], _ a: Conv2dAttributes,
                             _ body: (Int, Int, Int) -> Void) {
    let (n, c, h, wd) = (xShape[0], xShape[1], xShape[2], xShape[3])
    let (o, cg, kh, kw) = (wShape[0], wShape[1], wShape[2], wShape[3])
    let (oh, ow) = (yShape[2], yShape[3])
    let outPerGroup = o / a.groups
    for b in 0..<n {
      for oc in 0..<o {
        let g = oc / outPerGroup
        for y in 0..<oh {
          for xx in 0..<ow {
            let yi = ((b * o + oc) * oh + y) * ow + xx
            for ic in 0..<cg {
              let channel = g * cg + ic
              for ky in 0..<kh {
                let iy = y * a.stride[0] - a.padding[0] + ky * a.dilation[0]
                if iy < 0 || iy >= h { continue }
                for kx in 0..<kw {
                  let ix = xx * a.stride[1] - a.padding[1] + kx * a.dilation[1]
                  if ix < 0 || ix >= wd { continue }
                  body(((b * c + channel) * h + iy) * wd + ix, ((oc * cg + ic) * kh + ky) * kw + kx, yi)
                }
              }
            }
          }
        }
      }
    }
  }

  static func batchNorm(_ operands: [Values<T>], epsilon: Float) -> [T] {
    let (x, weight, bias, mean, variance) = (operands[0], operands[1], operands[2], operands[3], operands[4])
    let channels = x.shape[1]
    let inner = x.shape[2...].reduce(1, *)
    return x.data.enumerated().map { i, v in
      let ch = (i / inner) % channels
      let normalized = (Double(v) - Double(mean.data[ch])) / (Double(variance.data[ch]) + Double(epsilon)).squareRoot()
      return T(normalized * Double(weight.data[ch]) + Double(bias.data[ch]))
    }
  }

  /// Each row (the last axis) normalized by its own mean and biased variance, then scaled and shifted.
  static func layerNorm(_ operands: [Values<T>], epsilon: Float) -> [T] {
    let (x, weight, bias) = (operands[0], operands[1], operands[2])
    let length = x.shape.last!
    var out = [T](repeating: 0, count: x.count)
    for row in 0..<(x.count / max(1, length)) {
      let values = (0..<length).map { Double(x.data[row * length + $0]) }
      let mean = values.reduce(0, +) / Double(length)
      let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(length)
      let inverse = 1 / (variance + Double(epsilon)).squareRoot()
      for k in 0..<length {
        out[row * length + k] = T((values[k] - mean) * inverse * Double(weight.data[k]) + Double(bias.data[k]))
      }
    }
    return out
  }

  /// PyTorch's max and average pooling, including its divisor rule for padded average windows.
  static func pool(_ x: Values<T>, _ p: PoolAttributes, _ outShape: [Int], max isMax: Bool) -> [T] {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (oh, ow) = (outShape[2], outShape[3])
    var out = [T](repeating: 0, count: n * c * oh * ow)
    for plane in 0..<(n * c) {
      for y in 0..<oh {
        for xx in 0..<ow {
          let (y0, x0) = (y * p.stride[0] - p.padding[0], xx * p.stride[1] - p.padding[1])
          var best = -T.infinity, sum = 0.0, count = 0
          for ky in 0..<p.kernel[0] {
            let iy = y0 + ky * p.dilation[0]
            if iy < 0 || iy >= h { continue }
            for kx in 0..<p.kernel[1] {
              let ix = x0 + kx * p.dilation[1]
              if ix < 0 || ix >= w { continue }
              let v = x.data[(plane * h + iy) * w + ix]
              best = Swift.max(best, v)
              sum += Double(v)
              count += 1
            }
          }
          if isMax {
            out[(plane * oh + y) * ow + xx] = best
          } else {
            let windowH = Swift.min(y0 + p.kernel[0], h + p.padding[0]) - y0
            let windowW = Swift.min(x0 + p.kernel[1], w + p.padding[1]) - x0
            let divisor = p.countIncludePad ? windowH * windowW : count
            out[(plane * oh + y) * ow + xx] = T(sum / Double(divisor))
          }
        }
      }
    }
    return out
  }

  static func adaptiveAvgPool(_ x: Values<T>, _ outShape: [Int]) -> [T] {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (oh, ow) = (outShape[2], outShape[3])
    var out = [T](repeating: 0, count: n * c * oh * ow)
    for plane in 0..<(n * c) {
      for y in 0..<oh {
        let (ys, ye) = (y * h / oh, ((y + 1) * h + oh - 1) / oh)
        for xx in 0..<ow {
          let (xs, xe) = (xx * w / ow, ((xx + 1) * w + ow - 1) / ow)
          var sum = 0.0
          for iy in ys..<ye { for ix in xs..<xe { sum += Double(x.data[(plane * h + iy) * w + ix]) } }
          out[(plane * oh + y) * ow + xx] = T(sum / Double((ye - ys) * (xe - xs)))
        }
      }
    }
    return out
  }

  static func softmax(_ x: Values<T>, axis: Int, log: Bool) -> [T] {
    let length = x.shape[axis]
    let inner = x.shape[(axis + 1)...].reduce(1, *)
    let outer = x.count / (length * inner)
    var out = x.data
    for o in 0..<outer {
      for i in 0..<inner {
        let base = o * length * inner + i
        var peak = -Double.infinity
        for k in 0..<length { peak = max(peak, Double(x.data[base + k * inner])) }
        var total = 0.0
        for k in 0..<length { total += exp(Double(x.data[base + k * inner]) - peak) }
        for k in 0..<length {
          let shifted = Double(x.data[base + k * inner]) - peak
          out[base + k * inner] = T(log ? shifted - Foundation.log(total) : exp(shifted) / total)
        }
      }
    }
    return out
  }

  /// The part of x along `axis` from `start` (already counted from the front) with the shape `shape`.
  static func slice(_ x: Values<T>, _ shape: [Int], axis: Int, start: Int) -> [T] {
    let inner = shape[(axis + 1)...].reduce(1, *), outer = shape[..<axis].reduce(1, *)
    let chunk = shape[axis] * inner, total = x.shape[axis] * inner
    var out: [T] = []
    out.reserveCapacity(outer * chunk)
    for o in 0..<outer {
      let first = o * total + start * inner
      out += x.data[first..<(first + chunk)]
    }
    return out
  }

  static func concat(_ xs: [Values<T>], axis: Int, _ outShape: [Int]) -> [T] {
    let inner = outShape[(axis + 1)...].reduce(1, *)
    let outer = outShape[..<axis].reduce(1, *)
    var out: [T] = []
    out.reserveCapacity(outShape.reduce(1, *))
    for o in 0..<outer {
      for x in xs {
        let chunk = x.shape[axis] * inner
        out += x.data[(o * chunk)..<((o + 1) * chunk)]
      }
    }
    return out
  }
}
