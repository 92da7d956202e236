import DanluIR

/// C for losses and gradient ops. Convolution gradients are GEMMs around im2col / col2im, as the forward is.
enum TrainingKernelEmitter {
  static func kernel(_ graph: Graph, _ index: Int, _ op: TrainingOp, _ plan: StoragePlan) -> String {
    let context = KernelContext(graph, index, plan)
    let (y, out, count) = (context.y, context.out, context.count)
    func x(_ i: Int) -> String { context.x(i) }
    func shape(_ i: Int) -> [Int] { context.shape(i) }

    switch op {
    case .loss(let l): return loss(l, x(0), x(1), shape(0), y, gradient: false)
    case .lossGrad(let l): return loss(l, x(0), x(1), shape(0), y, gradient: true)
    case .activationGrad(let f):
      return "  const float *dy = \(x(0)), *x = \(x(1));\n" + y
        + "  for (long i = 0; i < \(count); i++) {\n    const float v = x[i];\n    y[i] = dy[i] * (\(KernelEmitter.activation(f).derivative));\n  }\n"
    case .matmulTransposeA:
      let (m, k) = (shape(0).last!, shape(1).last!)
      let rows = shape(0).reduce(1, *) / m
      return y + "  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, \(m), \(k), \(rows), 1.0f, \(x(0)), \(m), \(x(1)), \(k), 0.0f, y, \(k));\n"
    case .biasGrad(let axis):
      let s = shape(0)
      let outer = s[..<axis].reduce(1, *), channels = s[axis], inner = s[(axis + 1)...].reduce(1, *)
      return "  const float *dy = \(x(0));\n" + y + """
          for (long c = 0; c < \(channels); c++) y[c] = 0.0f;
          for (long o = 0; o < \(outer); o++)
            for (long c = 0; c < \(channels); c++) {
              const float *row = dy + (o * \(channels) + c) * \(inner);
              float sum = 0.0f;
              for (long i = 0; i < \(inner); i++) sum += row[i];
              y[c] += sum;
            }

        """
    case .conv2dInputGrad(let a, _):
      return conv2dInputGrad(x(0), x(1), shape(0), shape(1), out, a, y, scratch: plan.scratchReference(index))
    case .conv2dWeightGrad(let a, _):
      return conv2dWeightGrad(x(0), x(1), shape(0), shape(1), out, a, y, scratch: plan.scratchReference(index))
    case .maxPool2dGrad(let p), .avgPool2dGrad(let p):
      return poolGrad(x(0), x(1), shape(0), shape(1), p, y, isMax: { if case .maxPool2dGrad = op { true } else { false } }())
    case .batchMean, .batchVariance, .batchNormWeightGrad, .batchNormInputGrad:
      return batchNormTraining(op, context)
    case .layerNormInputGrad(let eps), .layerNormWeightGrad(let eps):
      // Rows of x (the weight gradient's own count is one row).
      let length = shape(1).last!, rows = shape(1).reduce(1, *) / max(1, length)
      let isInput = { if case .layerNormInputGrad = op { true } else { false } }()
      var body = "  const float *dy = \(x(0)), *x = \(x(1));\n" + (isInput ? "  const float *gamma = \(x(2));\n" : "") + y
      if !isInput { body += "  for (long k = 0; k < \(length); k++) y[k] = 0.0f;\n" }
      body += """
          for (long r = 0; r < \(rows); r++) {
            const float *row = x + r * \(length), *d = dy + r * \(length);
            double mean = 0.0, m2 = 0.0;
            for (long k = 0; k < \(length); k++) {
              const double delta = row[k] - mean;
              mean += delta / (double)(k + 1);
              m2 += delta * (row[k] - mean);
            }
            const double inv = 1.0 / sqrt(m2 / \(length).0 + \(Double(eps)));

        """
      if isInput {
        body += """
                double mean_g = 0.0, mean_gx = 0.0;
                for (long k = 0; k < \(length); k++) {
                  const double g = (double)d[k] * gamma[k];
                  mean_g += g;
                  mean_gx += g * (row[k] - mean) * inv;
                }
                mean_g /= \(length).0;
                mean_gx /= \(length).0;
                float *out = y + r * \(length);
                for (long k = 0; k < \(length); k++)
                  out[k] = (float)(inv * ((double)d[k] * gamma[k] - mean_g - (row[k] - mean) * inv * mean_gx));
              }

            """
      } else {
        body += "    for (long k = 0; k < \(length); k++) y[k] += (float)((double)d[k] * (row[k] - mean) * inv);\n  }\n"
      }
      return body
    case .embeddingGrad(let rows):
      let width = shape(0).last!
      return "  const float *dy = \(x(0)), *ids = \(x(1));\n" + y + """
          memset(y, 0, sizeof(float) * \(rows * width));
          for (long i = 0; i < \(shape(1).reduce(1, *)); i++) {
            const float id = ids[i];
            if (!(id >= 0.0f && id < \(rows).0f && id == (float)(long)id)) continue;
            float *row = y + (long)id * \(width);
            for (long k = 0; k < \(width); k++) row[k] += dy[i * \(width) + k];
          }

        """
    case .padAxis(let axis, let start):
      let (source, target) = (shape(0), shape(1))
      let inner = target[(axis + 1)...].reduce(1, *), outer = target[..<axis].reduce(1, *)
      let (chunk, total) = (source[axis] * inner, target[axis] * inner)
      return "  const float *dy = \(x(0));\n" + y + "  memset(y, 0, sizeof(float) * \(count));\n"
        + "  for (long o = 0; o < \(outer); o++) memcpy(y + o * \(total) + \(start * inner), dy + o * \(chunk), sizeof(float) * \(chunk));\n"
    case .recurrentGrad(let r):
      return RecurrentEmitter.backward(r, context, scratch: plan.scratchReference(index))
    case .attentionGrad(let a):
      return AttentionEmitter.backward(a, context, scratch: plan.scratchReference(index))
    case .sumToShape:
      // Every element of dy added into the element of y it was broadcast from: dims and strides as constant tables.
      let (source, target) = (shape(0), shape(1))
      let padded = Array(repeating: 1, count: source.count - target.count) + target
      var strides = Array(repeating: 1, count: padded.count)
      for d in stride(from: padded.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * padded[d + 1] }
      let step = strides.indices.map { padded[$0] == 1 ? 0 : strides[$0] }
      let list = { (values: [Int]) in values.map(String.init).joined(separator: ", ") }
      return "  const float *dy = \(x(0));\n" + y + """
          static const long dims[] = {\(list(source))}, steps[] = {\(list(step))};
          memset(y, 0, sizeof(float) * \(count));
          for (long i = 0; i < \(source.reduce(1, *)); i++) {
            long rest = i, at = 0;
            for (int d = \(source.count - 1); d >= 0; d--) { at += (rest % dims[d]) * steps[d]; rest /= dims[d]; }
            y[at] += dy[i];
          }

        """
    case .dropoutMask(let p, let salt):
      return y + "  danlu_dropout_mask(\(x(0)), \(salt), \(DropoutHash.threshold(p: p)), \(KernelEmitter.literal(1 / (1 - p))), y, \(count));\n"
    case .softmaxGrad(let axis, let log):
      let s = shape(1)
      let length = s[axis], inner = s[(axis + 1)...].reduce(1, *), outer = count / (length * inner)
      return "  const float *dy = \(x(0)), *x = \(x(1));\n" + y + """
          for (long o = 0; o < \(outer); o++)
            for (long i = 0; i < \(inner); i++) {
              const long base = o * \(length * inner) + i;
              float peak = x[base];
              for (long k = 1; k < \(length); k++) peak = x[base + k * \(inner)] > peak ? x[base + k * \(inner)] : peak;
              double total = 0.0, dot = 0.0;
              for (long k = 0; k < \(length); k++) total += exp((double)(x[base + k * \(inner)] - peak));
              for (long k = 0; k < \(length); k++) {
                const long at = base + k * \(inner);
                dot += \(log ? "dy[at]" : "dy[at] * exp((double)(x[at] - peak)) / total");
              }
              for (long k = 0; k < \(length); k++) {
                const long at = base + k * \(inner);
                const double s = exp((double)(x[at] - peak)) / total;
                y[at] = (float)(\(log ? "dy[at] - s * dot" : "s * (dy[at] - dot)"));
              }
            }

        """
    }
  }

  /// Per-channel batch statistics and batch-norm gradients; sums in double, one channel's elements at a time.
  static func batchNormTraining(_ op: TrainingOp, _ context: KernelContext) -> String {
    let isStatistic = { switch op { case .batchMean, .batchVariance: true; default: false } }()
    let s = context.shape(isStatistic ? 0 : 1)
    let (n, channels, inner) = (s[0], s[1], s[2...].reduce(1, *))
    let count = "\(n * inner).0"
    // Visits every element of channel c: `at` its index.
    func loop(_ body: String) -> String {
      "    for (long n = 0; n < \(n); n++)\n      for (long i = 0; i < \(inner); i++) {\n"
        + "        const long at = (n * \(channels) + c) * \(inner) + i;\n        \(body)\n      }\n"
    }
    var body = context.y
    switch op {
    case .batchMean:
      body += "  const float *x = \(context.x(0));\n  for (long c = 0; c < \(channels); c++) {\n    double sum = 0.0;\n"
      body += loop("sum += x[at];") + "    y[c] = (float)(sum / \(count));\n  }\n"
    case .batchVariance:
      body += "  const float *x = \(context.x(0)), *mean = \(context.x(1));\n"
      body += "  for (long c = 0; c < \(channels); c++) {\n    double sum = 0.0;\n"
      body += loop("const double d = x[at] - mean[c]; sum += d * d;") + "    y[c] = (float)(sum / \(count));\n  }\n"
    case .batchNormWeightGrad(let eps), .batchNormInputGrad(let eps):
      body += "  const float *dy = \(context.x(0)), *x = \(context.x(1)), *mean = \(context.x(2)), *var = \(context.x(3));\n"
      if case .batchNormInputGrad = op { body += "  const float *gamma = \(context.x(4));\n" }
      body += "  for (long c = 0; c < \(channels); c++) {\n"
      body += "    const double inv = 1.0 / sqrt((double)var[c] + \(Double(eps))), m = mean[c];\n    double dgamma = 0.0, dbeta = 0.0;\n"
      body += loop("dgamma += dy[at] * (x[at] - m) * inv; dbeta += dy[at];")
      if case .batchNormWeightGrad = op {
        body += "    (void)dbeta;\n    y[c] = (float)dgamma;\n  }\n"
      } else {
        body += "    const double scale = gamma[c] * inv, a = dbeta / \(count), b = dgamma / \(count);\n"
        body += loop("y[at] = (float)(scale * (dy[at] - a - (x[at] - m) * inv * b));") + "  }\n"
      }
    default: preconditionFailure("not a batch-norm training op")
    }
    return body
  }

  /// A loss (one value, in double) or its gradient with respect to the prediction `p` (target `t`).
  static func loss(_ l: Loss, _ prediction: String, _ target: String, _ shape: [Int], _ y: String, gradient: Bool) -> String {
    let count = shape.reduce(1, *)
    var body = "  const float *p = \(prediction), *t = \(target);\n" + y
    switch l {
    case .crossEntropy(let smoothing):
      let (n, c) = (shape[0], shape[1])
      let eps = Double(smoothing)
      return body + """
          double loss = 0.0;
          for (long r = 0; r < \(n); r++) {
            const float *z = p + r * \(c);
            float peak = z[0];
            for (long k = 1; k < \(c); k++) peak = z[k] > peak ? z[k] : peak;
            double total = 0.0;  /* expf of values ≤ 0, summed in double: libm's double exp took 4% of an MLP step */
            for (long k = 0; k < \(c); k++) total += expf(z[k] - peak);
            const double log_total = log(total) + peak;
            const long label = (long)t[r];
            for (long k = 0; k < \(c); k++) {
              const double target = (k == label ? \(1 - eps) : 0.0) + \(eps / Double(c));
              \(gradient ? "y[r * \(c) + k] = (float)((expf((float)(z[k] - log_total)) - target) / \(n).0);" : "loss -= target * (z[k] - log_total);")
            }
          }
          \(gradient ? "(void)loss;" : "y[0] = (float)(loss / \(n).0);")

        """
    case .nll:
      let (n, c) = (shape[0], shape[1])
      // Labels were checked against the class count when the batch was loaded; the guard keeps a bad one in bounds.
      if gradient {
        return body + "  memset(y, 0, sizeof(float) * \(count));\n  for (long r = 0; r < \(n); r++) {\n"
          + "    const long label = (long)t[r];\n    if (label >= 0 && label < \(c)) y[r * \(c) + label] = \(KernelEmitter.literal(-1 / Float(n)));\n  }\n"
      }
      return body + "  double total = 0.0;\n  for (long r = 0; r < \(n); r++) {\n    const long label = (long)t[r];\n"
        + "    if (label >= 0 && label < \(c)) total -= p[r * \(c) + label];\n  }\n  y[0] = (float)(total / \(n).0);\n"
    case .klDivergence:
      let n = shape[0]
      if gradient { return body + "  for (long i = 0; i < \(count); i++) y[i] = -t[i] / \(n).0f;\n" }
      return body + "  double total = 0.0;\n  for (long i = 0; i < \(count); i++)\n"
        + "    if (t[i] > 0) total += (double)t[i] * (log((double)t[i]) - p[i]);\n  y[0] = (float)(total / \(n).0);\n"
    case .mse, .l1, .bce, .bceWithLogits:
      let (value, slope): (String, String)
      switch l {
      case .mse: (value, slope) = ("(a - b) * (a - b)", "2.0 * (a - b)")
      case .l1: (value, slope) = ("fabs(a - b)", "(a > b) - (a < b)")
      case .bce: (value, slope) = ("-(b * fmax(log(a), -100.0) + (1.0 - b) * fmax(log(1.0 - a), -100.0))", "(a - b) / fmax(a * (1.0 - a), 1e-12)")
      default: (value, slope) = ("fmax(a, 0.0) - a * b + log1p(exp(-fabs(a)))", "1.0 / (1.0 + exp(-a)) - b")
      }
      body += gradient ? "" : "  double total = 0.0;\n"
      body += "  for (long i = 0; i < \(count); i++) {\n    const double a = p[i], b = t[i];\n"
      body += gradient ? "    y[i] = (float)((\(slope)) / \(count).0);\n  }\n" : "    total += \(value);\n  }\n  y[0] = (float)(total / \(count).0);\n"
      return body
    }
  }

  /// dx = col2im(Wᵀ · dy) per image and group; a 1×1 stride-1 convolution writes Wᵀ · dy straight into dx.
  static func conv2dInputGrad(_ dy: String, _ w: String, _ sdy: [Int], _ sw: [Int], _ sx: [Int], _ a: Conv2dAttributes,
                              _ y: String, scratch: String) -> String {
    let g = ConvGeometry(x: sx, weight: sw, y: sdy, groups: a.groups)
    let (c, h, wd, o, cg, kh, kw, oh, ow) = (g.c, g.h, g.w, g.o, g.cg, g.kh, g.kw, g.oh, g.ow)
    let (og, k, spatial) = (g.og, g.k, g.spatial)
    var body = g.loopHeader([("dy", dy), ("w", w)], y)
    body += "      float *dx = y + (n * \(c) + g * \(cg)) * \(h * wd);\n"
    let gemm = { (target: String) in
      "      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, \(k), \(spatial), \(og), 1.0f, w + g * \(og * k), \(k), "
        + "dy + (n * \(o) + g * \(og)) * \(spatial), \(spatial), 0.0f, \(target), \(spatial));\n"
    }
    if a.isPointwise(kernel: [kh, kw]) { return body + gemm("dx") + "    }\n" }
    body += "      float *cols = \(scratch);\n" + gemm("cols")
    body += """
              memset(dx, 0, sizeof(float) * \(cg * h * wd));
              for (long ic = 0; ic < \(cg); ic++)
                for (long ky = 0; ky < \(kh); ky++)
                  for (long kx = 0; kx < \(kw); kx++) {
                    const float *row = cols + ((ic * \(kh) + ky) * \(kw) + kx) * \(spatial);
                    for (long oy = 0; oy < \(oh); oy++) {
                      const long iy = oy * \(a.stride[0]) - \(a.padding[0]) + ky * \(a.dilation[0]);
                      if (iy < 0 || iy >= \(h)) continue;
                      float *dst = dx + (ic * \(h) + iy) * \(wd);
                      for (long ox = 0; ox < \(ow); ox++) {
                        const long ix = ox * \(a.stride[1]) - \(a.padding[1]) + kx * \(a.dilation[1]);
                        if (ix >= 0 && ix < \(wd)) dst[ix] += row[oy * \(ow) + ox];
                      }
                    }
                  }
            }

        """
    return body
  }

  /// dw = Σ over images of dy · im2col(x)ᵀ per group (the input itself for a 1×1 stride-1 convolution).
  static func conv2dWeightGrad(_ dy: String, _ x: String, _ sdy: [Int], _ sx: [Int], _ sw: [Int], _ a: Conv2dAttributes,
                               _ y: String, scratch: String) -> String {
    let geometry = ConvGeometry(x: sx, weight: sw, y: sdy, groups: a.groups)
    let (o, og, k, spatial) = (geometry.o, geometry.og, geometry.k, geometry.spatial)
    var body = geometry.loopHeader([("dy", dy), ("x", x)], y) + geometry.columns(a, scratch: scratch)
    body += "      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, \(og), \(k), \(spatial), 1.0f, "
      + "dy + (n * \(o) + g * \(og)) * \(spatial), \(spatial), cols, \(spatial), n == 0 ? 0.0f : 1.0f, y + g * \(og * k), \(k));\n"
    return body + "    }\n"
  }

  /// Each window's gradient to its first maximum (max) or spread by the forward's divisor (average).
  static func poolGrad(_ dy: String, _ x: String, _ sdy: [Int], _ sx: [Int], _ p: PoolAttributes, _ y: String,
                       isMax: Bool) -> String {
    let (h, w, oh, ow) = (sx[2], sx[3], sdy[2], sdy[3])
    var body = "  const float *restrict dy = \(dy), *restrict x = \(x);\n" + y
    body += "  memset(y, 0, sizeof(float) * \(sx.reduce(1, *)));\n"
    body += """
        for (long plane = 0; plane < \(sx[0] * sx[1]); plane++)
          for (long oy = 0; oy < \(oh); oy++)
            for (long ox = 0; ox < \(ow); ox++) {
              const long y0 = oy * \(p.stride[0]) - \(p.padding[0]), x0 = ox * \(p.stride[1]) - \(p.padding[1]);
              const float d = dy[(plane * \(oh) + oy) * \(ow) + ox];
              const float *xp = x + plane * \(h * w);
              float *yp = y + plane * \(h * w);
              long best = -1, count = 0;

      """ + KernelEmitter.poolWindow(p, h: h, w: w, "const long at = iy * \(w) + ix;\n"
                                     + "            if (best < 0 || xp[at] > xp[best]) best = at;\n            count++;")
    if isMax {
      body += "        (void)count;\n        if (best >= 0) yp[best] += d;\n      }\n"
    } else {
      let divisor = KernelEmitter.averageDivisor(p, h: h, w: w)
      body += """
                (void)best;
                const float share = d / \(divisor);

        """ + KernelEmitter.poolWindow(p, h: h, w: w, "yp[iy * \(w) + ix] += share;") + "      }\n"
    }
    return body
  }
}
