import DanluIR

/// CUDA for the sequence ops: a recurrence (one layer and direction) and scaled dot-product attention.
enum CudaSequenceEmitter {
  /// The input projection of every step as one cuBLAS GEMM into the scratch, then per step a cuBLAS GEMM of the
  /// previous state with weight_hh and one kernel of gate math (a thread per batch row and hidden unit) that writes
  /// the step's state into the result, where the next step reads it.
  static func recurrent(_ r: RecurrentAttributes, _ context: KernelContext, index: Int, scratch: String)
    -> (device: String, host: String)
  {
    let s = context.shape(0)
    let (steps, batch, features) = r.batchFirst ? (s[1], s[0], s[2]) : (s[0], s[1], s[2])
    let (h, g, width) = (r.hidden, r.gates, r.stateWidth)
    let row = r.batchFirst ? "n * \(steps) + t" : "t * \(batch) + n"
    func gate(_ k: Int) -> String { "(p[\(k * h) + j] + bih[\(k * h) + j] + q[\(k * h) + j] + bhh[\(k * h) + j])" }
    let sigmoid = { (v: String) in "1.0f / (1.0f + expf(-\(v)))" }
    let math: String
    switch r.cell {
    case .rnnTanh: math = "  y[row * \(width) + j] = tanhf(\(gate(0)));\n"
    case .rnnRelu: math = "  y[row * \(width) + j] = fmaxf(\(gate(0)), 0.0f);\n"
    case .lstm:
      math = """
          const float i = \(sigmoid(gate(0))), f = \(sigmoid(gate(1))), c = tanhf(\(gate(2))), o = \(sigmoid(gate(3)));
          const float cell = f * cprev[n * stride + j] + i * c;
          y[row * \(width) + j] = o * tanhf(cell);
          y[row * \(width) + \(h) + j] = cell;

        """
    case .gru:
      math = """
          const float reset = \(sigmoid(gate(0))), update = \(sigmoid(gate(1)));
          const float candidate = tanhf(p[\(2 * h) + j] + bih[\(2 * h) + j] + reset * (q[\(2 * h) + j] + bhh[\(2 * h) + j]));
          y[row * \(width) + j] = (1.0f - update) * candidate + update * hprev[n * stride + j];

        """
    }
    let device = """
      __global__ void g\(index)_step(float *y, const float *projected, const float *hidden, const float *bih,
                                 const float *bhh, const float *hprev, const float *cprev, long stride, long t) {
        const long thread = DANLU_THREAD;
        if (thread >= \(batch * h)) return;
        const long n = thread / \(h), j = thread % \(h), row = \(row);
        const float *p = projected + row * \(g * h), *q = hidden + n * \(g * h);
        (void)hprev; (void)cprev;
      \(math)}

      """
    let x = (0..<r.operandCount).map { context.x($0) }
    let previous = r.batchFirst ? "before" : "before * \(batch)"
    let host = """
        const float *x = \(x[0]), *wih = \(x[1]), *whh = \(x[2]), *bih = \(x[3]), *bhh = \(x[4]), *h0 = \(x[5]);
        const float *c0 = \(r.cell == .lstm ? x[6] : "0");
        float *y = \(context.yReference), *projected = \(scratch), *hidden = projected + \(steps * batch * g * h);
        danlu_gemm(0, 1, \(steps * batch), \(g * h), \(features), x, \(features), wih, \(features), 0.0f, projected, \(g * h));
        for (long s = 0; s < \(steps); s++) {
          const long t = \(r.reverse ? "\(steps - 1) - s" : "s"), before = \(r.reverse ? "t + 1" : "t - 1");
          /* The previous state: h0 (and c0), or the result's rows at the step before. */
          const float *hprev = s == 0 ? h0 : y + (\(previous)) * \(width);
          const float *cprev = s == 0 ? c0 : hprev + \(h);
          const long stride = s == 0 ? \(h) : \(r.batchFirst ? steps * width : width);
          danlu_gemm(0, 1, \(batch), \(g * h), \(h), hprev, stride, whh, \(h), 0.0f, hidden, \(g * h));
          DANLU_LAUNCH(g\(index)_step, \(batch * h), y, projected, hidden, bih, bhh, hprev, cprev, stride, t);
        }

      """
    return (device, host)
  }

  /// A thread per (batch row, head, query): the scores of its keys three times over (their peak, the softmax's sum,
  /// then the weighted sum of the values), so it keeps only the head's D output values. A query that sees no key
  /// gets NaN, as PyTorch and the interpreter do.
  static func attention(_ a: AttentionAttributes, _ context: KernelContext, index: Int) -> (device: String, host: String) {
    let (q, k) = (context.shape(0), context.shape(1))
    let (batch, queries) = a.batchAndLength(q)
    let keys = a.batchAndLength(k).length
    let width = q[2], headSize = width / a.heads
    func row(_ position: String, _ length: Int) -> String {
      a.batchFirst ? "(n * \(length) + \(position)) * \(width)" : "(\(position) * \(batch) + n) * \(width)"
    }
    var masked: [String] = []
    if a.causal { masked.append("j > i") }
    if a.keyPadding { masked.append("mask[n * \(keys) + j] != 0.0f") }
    let skip = masked.isEmpty ? "" : "if (\(masked.joined(separator: " || "))) continue;"
    let scale = KernelEmitter.literal(1 / Float(headSize).squareRoot())
    let device = """
      __device__ static float g\(index)_score(const float *qi, const float *k, long n, long head, long j) {
        const float *kj = k + \(row("j", keys)) + head * \(headSize);
        float dot = 0.0f;
        for (long d = 0; d < \(headSize); d++) dot += qi[d] * kj[d];
        return dot * \(scale);
      }
      __global__ void g\(index)(float *y, const float *q, const float *k, const float *v, const float *mask) {
        const long thread = DANLU_THREAD;
        if (thread >= \(batch * a.heads * queries)) return;
        const long n = thread / \(a.heads * queries), head = (thread / \(queries)) % \(a.heads), i = thread % \(queries);
        const float *qi = q + \(row("i", queries)) + head * \(headSize);
        float *out = y + \(row("i", queries)) + head * \(headSize);
        (void)mask;
        float peak = -INFINITY;
        for (long j = 0; j < \(keys); j++) { \(skip) peak = fmaxf(peak, g\(index)_score(qi, k, n, head, j)); }
        if (peak == -INFINITY) {
          for (long d = 0; d < \(headSize); d++) out[d] = NAN;
          return;
        }
        float total = 0.0f, acc[\(headSize)];
        for (long d = 0; d < \(headSize); d++) acc[d] = 0.0f;
        for (long j = 0; j < \(keys); j++) { \(skip) total += expf(g\(index)_score(qi, k, n, head, j) - peak); }
        for (long j = 0; j < \(keys); j++) {
          \(skip)
          const float p = expf(g\(index)_score(qi, k, n, head, j) - peak) / total;
          const float *vj = v + \(row("j", keys)) + head * \(headSize);
          for (long d = 0; d < \(headSize); d++) acc[d] += p * vj[d];
        }
        for (long d = 0; d < \(headSize); d++) out[d] = acc[d];
      }

      """
    let operands = (0..<3).map { context.x($0) } + [a.keyPadding ? context.x(3) : "0"]
    let host = "  DANLU_LAUNCH(g\(index), \(batch * a.heads * queries), \(([context.yReference] + operands).joined(separator: ", ")));\n"
    return (device, host)
  }
}
