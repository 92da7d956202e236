import DanluIR

/// C for one recurrent layer and direction: the input projection of every time step as one GEMM, then per step one
/// GEMM of the previous state by weight_hh and one loop of gate math that writes h (and c) into the result, from which
/// the next step reads its previous state in place.
enum RecurrentEmitter {
  static func kernel(_ r: RecurrentAttributes, _ context: KernelContext, scratch: String) -> String {
    let s = context.shape(0)
    let (steps, batch, features) = r.batchFirst ? (s[1], s[0], s[2]) : (s[0], s[1], s[2])
    let (h, width) = (r.hidden, r.stateWidth)
    let gh = r.gates * h
    // The row of time t, batch n in x and in the result; the stride between batch rows of one step.
    let row = r.batchFirst ? "(n * \(steps) + t)" : "(t * \(batch) + n)"
    let batchStride = r.batchFirst ? steps * width : width
    var body = "  const float *x = \(context.x(0)), *wih = \(context.x(1)), *whh = \(context.x(2)), *bih = \(context.x(3)), "
      + "*bhh = \(context.x(4)), *h0 = \(context.x(5));\n"
    if r.cell == .lstm { body += "  const float *c0 = \(context.x(6));\n" }
    body += context.y
    // The GRU keeps b_hh on the hidden side, where the reset gate scales it; the others add both biases up front.
    let bias = r.cell == .gru ? "bih[k]" : "bih[k] + bhh[k]"
    body += """
        float *proj = \(scratch), *hid = proj + \(steps * batch * gh);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, \(steps * batch), \(gh), \(features), 1.0f, x, \(features), wih, \(features), 0.0f, proj, \(gh));
        for (long i = 0; i < \(steps * batch); i++)
          for (long k = 0; k < \(gh); k++) proj[i * \(gh) + k] += \(bias);
        for (long step = 0; step < \(steps); step++) {
          const long t = \(r.reverse ? "\(steps - 1) - step" : "step");
          const long before = \(r.reverse ? "t + 1" : "t - 1");
          const float *hp = h0;
          long ld = \(h);
          if (step > 0) {  /* the previous step's states, read in place from the result */
            hp = y + before * \(r.batchFirst ? width : batch * width);
            ld = \(batchStride);
          }
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, \(batch), \(gh), \(h), 1.0f, hp, ld, whh, \(h), 0.0f, hid, \(gh));
          for (long n = 0; n < \(batch); n++) {
            const float *p = proj + \(row) * \(gh), *q = hid + n * \(gh), *hprev = hp + n * ld;
            float *out = y + \(row) * \(width);
      \(r.cell == .lstm ? "      const float *cprev = step > 0 ? hprev + \(h) : c0 + n * \(h);\n" : "")\
            for (long j = 0; j < \(h); j++) {
      \(gateMath(r))
            }
          }
        }

      """
    return body
  }

  static func gateMath(_ r: RecurrentAttributes) -> String {
    let h = r.hidden
    let sigmoid = { (v: String) in "1.0f / (1.0f + expf(-(\(v))))" }
    switch r.cell {
    case .rnnTanh: return "        out[j] = tanhf(p[j] + q[j]);"
    case .rnnRelu: return "        const float a = p[j] + q[j];\n        out[j] = a > 0.0f ? a : 0.0f;"
    case .lstm:
      return """
                const float i = \(sigmoid("p[j] + q[j]")), f = \(sigmoid("p[\(h) + j] + q[\(h) + j]"));
                const float g = tanhf(p[\(2 * h) + j] + q[\(2 * h) + j]), o = \(sigmoid("p[\(3 * h) + j] + q[\(3 * h) + j]"));
                const float c = f * cprev[j] + i * g;
                out[\(h) + j] = c;
                out[j] = o * tanhf(c);
        """
    case .gru:
      return """
                const float r = \(sigmoid("p[j] + q[j] + bhh[j]")), z = \(sigmoid("p[\(h) + j] + q[\(h) + j] + bhh[\(h) + j]"));
                const float cand = tanhf(p[\(2 * h) + j] + r * (q[\(2 * h) + j] + bhh[\(2 * h) + j]));
                out[j] = (1.0f - z) * cand + z * hprev[j];
        """
    }
  }
}
