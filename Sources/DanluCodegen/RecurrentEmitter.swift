import DanluIR

/// C for one recurrent layer and direction: the input projection of every time step as one GEMM, then per step one
/// GEMM of the previous state by weight_hh and one loop of gate math that writes h (and c) into the result, from which
/// the next step reads its previous state in place.
enum RecurrentEmitter {
  /// Gate functions inline instead of libm's expf and tanhf calls: e^x by range reduction and a degree-7 polynomial,
  /// within 1e-7 relative on [-87, 88]; tanh through the sigmoid, within 2e-7 absolute (both measured against double
  /// precision). The lstm benchmark went from 18.1 to 16.2 ms; gcc 12 still leaves the gate loop scalar (it cannot
  /// vectorize the float/int bit cast), which is the next step, with the per-step GEMM (0.1 ms × 64 at M = 16).
  static let helpers = """
    #include <stdint.h>

    static inline float danlu_expf(float x) {
      x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
      const float n = __builtin_roundf(x * 1.44269504f);
      const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
      float p = 1.0f / 5040.0f;
      p = p * r + 1.0f / 720.0f; p = p * r + 1.0f / 120.0f; p = p * r + 1.0f / 24.0f;
      p = p * r + 1.0f / 6.0f; p = p * r + 0.5f; p = p * r + 1.0f; p = p * r + 1.0f;
      const int32_t bits = ((int32_t)n + 127) << 23;
      float scale;
      memcpy(&scale, &bits, sizeof scale);
      return p * scale;
    }
    static inline float danlu_sigmoid(float x) { return 1.0f / (1.0f + danlu_expf(-x)); }
    static inline float danlu_tanh(float x) { return 2.0f / (1.0f + danlu_expf(-2.0f * x)) - 1.0f; }


    """

  /// Sizes and index expressions shared by the forward and backward kernels.
  struct Geometry {
    let steps, batch, features, hidden, width, gateRows, rows: Int
    /// The row of time t, batch n in x and in the result.
    let row: String

    init(_ r: RecurrentAttributes, input s: [Int]) {
      (steps, batch, features) = r.batchFirst ? (s[1], s[0], s[2]) : (s[0], s[1], s[2])
      (hidden, width, gateRows, rows) = (r.hidden, r.stateWidth, r.gates * r.hidden, steps * batch)
      row = r.batchFirst ? "(n * \(steps) + t)" : "(t * \(batch) + n)"
    }
  }

  /// `proj` = x · weight_ihᵀ + biases for every step at once (the GRU keeps b_hh on the hidden side, where the reset
  /// gate scales it).
  static func inputProjection(_ r: RecurrentAttributes, _ g: Geometry) -> String {
    """
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, \(g.rows), \(g.gateRows), \(g.features), 1.0f, x, \(g.features), wih, \(g.features), 0.0f, proj, \(g.gateRows));
      for (long i = 0; i < \(g.rows); i++)
        for (long k = 0; k < \(g.gateRows); k++) proj[i * \(g.gateRows) + k] += \(r.cell == .gru ? "bih[k]" : "bih[k] + bhh[k]");

    """
  }

  /// Inside the step loop: t, the previous step's states `hp` (row stride `ld`; h0 at the first step, else read in
  /// place from `states`, the result) and `hid` = hp · weight_hhᵀ.
  static func previousState(_ r: RecurrentAttributes, _ g: Geometry, states: String) -> String {
    """
        const long t = \(r.reverse ? "\(g.steps - 1) - step" : "step");
        const long before = \(r.reverse ? "t + 1" : "t - 1");
        const float *hp = h0;
        long ld = \(g.hidden);
        if (step > 0) {
          hp = \(states) + before * \(r.batchFirst ? g.width : g.batch * g.width);
          ld = \(r.batchFirst ? g.steps * g.width : g.width);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, \(g.batch), \(g.gateRows), \(g.hidden), 1.0f, hp, ld, whh, \(g.hidden), 0.0f, hid, \(g.gateRows));

    """
  }

  /// The gate activations both directions of the computation start from (`p` the input side, `q` the hidden side).
  static func gates(_ r: RecurrentAttributes) -> String {
    let h = r.hidden
    switch r.cell {
    case .rnnTanh, .rnnRelu: return ""
    case .lstm:
      return """
                const float i = danlu_sigmoid(p[j] + q[j]), f = danlu_sigmoid(p[\(h) + j] + q[\(h) + j]);
                const float g = danlu_tanh(p[\(2 * h) + j] + q[\(2 * h) + j]), o = danlu_sigmoid(p[\(3 * h) + j] + q[\(3 * h) + j]);

        """
    case .gru:
      return """
                const float reset = danlu_sigmoid(p[j] + q[j] + bhh[j]), z = danlu_sigmoid(p[\(h) + j] + q[\(h) + j] + bhh[\(h) + j]);
                const float hn = q[\(2 * h) + j] + bhh[\(2 * h) + j];
                const float cand = danlu_tanh(p[\(2 * h) + j] + reset * hn);

        """
    }
  }

  static func kernel(_ r: RecurrentAttributes, _ context: KernelContext, scratch: String) -> String {
    let g = Geometry(r, input: context.shape(0))
    var body = "  const float *x = \(context.x(0)), *wih = \(context.x(1)), *whh = \(context.x(2)), *bih = \(context.x(3)), "
      + "*bhh = \(context.x(4)), *h0 = \(context.x(5));\n"
    if r.cell == .lstm { body += "  const float *c0 = \(context.x(6));\n" }
    body += context.y + "  float *proj = \(scratch), *hid = proj + \(g.rows * g.gateRows);\n" + inputProjection(r, g)
    body += "  for (long step = 0; step < \(g.steps); step++) {\n" + previousState(r, g, states: "y")
    body += """
          for (long n = 0; n < \(g.batch); n++) {
            const float *p = proj + \(g.row) * \(g.gateRows), *q = hid + n * \(g.gateRows), *hprev = hp + n * ld;
            float *out = y + \(g.row) * \(g.width);
      \(r.cell == .lstm ? "      const float *cprev = step > 0 ? hprev + \(g.hidden) : c0 + n * \(g.hidden);\n" : "")\
            for (long j = 0; j < \(g.hidden - g.hidden % 16); j += 16) {
      \(vectorGates(r))
            }
            for (long j = \(g.hidden - g.hidden % 16); j < \(g.hidden); j++) {
      \(gates(r))\(gateMath(r))
            }
          }
        }

      """
    return body
  }

  /// The gates and the new state for 16 hidden units at once (`VectorMath`), the same math as `gates` + `gateMath`.
  static func vectorGates(_ r: RecurrentAttributes) -> String {
    let h = r.hidden
    func sum(_ parts: String...) -> String { parts.map { "danlu_load16(\($0))" }.joined(separator: " + ") }
    switch r.cell {
    case .rnnTanh: return "        danlu_store16(out + j, danlu_tanh16(\(sum("p + j", "q + j"))));"
    case .rnnRelu:
      return """
                const danlu_v16f a = \(sum("p + j", "q + j")), zero = {0};
                danlu_store16(out + j, danlu_select16(a > zero, a, zero));
        """
    case .lstm:
      return """
                const danlu_v16f i = danlu_sigmoid16(\(sum("p + j", "q + j"))), f = danlu_sigmoid16(\(sum("p + \(h) + j", "q + \(h) + j")));
                const danlu_v16f g = danlu_tanh16(\(sum("p + \(2 * h) + j", "q + \(2 * h) + j"))), o = danlu_sigmoid16(\(sum("p + \(3 * h) + j", "q + \(3 * h) + j")));
                const danlu_v16f c = f * danlu_load16(cprev + j) + i * g;
                danlu_store16(out + \(h) + j, c);
                danlu_store16(out + j, o * danlu_tanh16(c));
        """
    case .gru:
      return """
                const danlu_v16f reset = danlu_sigmoid16(\(sum("p + j", "q + j", "bhh + j"))), z = danlu_sigmoid16(\(sum("p + \(h) + j", "q + \(h) + j", "bhh + \(h) + j")));
                const danlu_v16f cand = danlu_tanh16(danlu_load16(p + \(2 * h) + j) + reset * (\(sum("q + \(2 * h) + j", "bhh + \(2 * h) + j"))));
                danlu_store16(out + j, (1.0f - z) * cand + z * danlu_load16(hprev + j));
        """
    }
  }

  static func gateMath(_ r: RecurrentAttributes) -> String {
    let h = r.hidden
    switch r.cell {
    case .rnnTanh: return "        out[j] = danlu_tanh(p[j] + q[j]);"
    case .rnnRelu: return "        const float a = p[j] + q[j];\n        out[j] = a > 0.0f ? a : 0.0f;"
    case .lstm:
      return """
                const float c = f * cprev[j] + i * g;
                out[\(h) + j] = c;
                out[j] = o * danlu_tanh(c);
        """
    case .gru: return "        out[j] = (1.0f - z) * cand + z * hprev[j];"
    }
  }

  /// Backpropagation through time: per step (last first) the gate gradients from the saved states, one GEMM for
  /// weight_hh's gradient and one for the state gradient carried back; the input side for all steps at the end.
  static func backward(_ r: RecurrentAttributes, _ context: KernelContext, scratch: String) -> String {
    let g = Geometry(r, input: context.shape(1))
    let (h, batch, gh, rows, features) = (g.hidden, g.batch, g.gateRows, g.rows, g.features)
    let lstm = r.cell == .lstm
    var body = "  const float *dres = \(context.x(0)), *x = \(context.x(1)), *wih = \(context.x(2)), *whh = \(context.x(3)), "
      + "*bih = \(context.x(4)), *bhh = \(context.x(5)), *h0 = \(context.x(6)), *res = \(context.x(r.operandCount + 1));\n"
    body += lstm ? "  const float *c0 = \(context.x(7));\n" : ""
    body += context.y
    body += """
        float *dx = y, *dwih = dx + \(rows * features), *dwhh = dwih + \(gh * features), *dbih = dwhh + \(gh * h);
        float *dbhh = dbih + \(gh), *dh0 = dbhh + \(gh)\(lstm ? ", *dc0 = dh0 + \(batch * h)" : "");
        float *proj = \(scratch), *hid = proj + \(rows * gh), *dax = hid + \(batch * gh), *dah = dax + \(rows * gh);
        float *carry_h = dah + \(batch * gh), *next_h = carry_h + \(batch * h), *carry_c = next_h + \(batch * h), *next_c = carry_c + \(batch * h);

      """ + inputProjection(r, g) + """
        memset(dwhh, 0, sizeof(float) * \(gh * h));
        memset(dbhh, 0, sizeof(float) * \(gh));
        memset(carry_h, 0, sizeof(float) * \(batch * h));
        memset(carry_c, 0, sizeof(float) * \(batch * h));
        for (long step = \(g.steps - 1); step >= 0; step--) {

      """ + previousState(r, g, states: "res") + """
          memset(next_h, 0, sizeof(float) * \(batch * h));
          for (long n = 0; n < \(batch); n++) {
            const float *p = proj + \(g.row) * \(gh), *q = hid + n * \(gh), *hprev = hp + n * ld, *out = res + \(g.row) * \(g.width);
            const float *dout = dres + \(g.row) * \(g.width);
            float *ax = dax + \(g.row) * \(gh), *ah = dah + n * \(gh);
      \(lstm ? "      const float *cprev = step > 0 ? hprev + \(h) : c0 + n * \(h);\n" : "")\
            for (long j = 0; j < \(h); j++) {
              const float dh = dout[j] + carry_h[n * \(h) + j];
      \(gates(r))\(gateGradient(r))
            }
          }
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, \(gh), \(h), \(batch), 1.0f, dah, \(gh), hp, ld, 1.0f, dwhh, \(h));
          for (long n = 0; n < \(batch); n++)
            for (long k = 0; k < \(gh); k++) dbhh[k] += dah[n * \(gh) + k];
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, \(batch), \(h), \(gh), 1.0f, dah, \(gh), whh, \(h), 1.0f, next_h, \(h));
          memcpy(carry_h, next_h, sizeof(float) * \(batch * h));
      \(lstm ? "    memcpy(carry_c, next_c, sizeof(float) * \(batch * h));\n" : "")\
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, \(rows), \(features), \(gh), 1.0f, dax, \(gh), wih, \(features), 0.0f, dx, \(features));
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, \(gh), \(features), \(rows), 1.0f, dax, \(gh), x, \(features), 0.0f, dwih, \(features));
        memset(dbih, 0, sizeof(float) * \(gh));
        for (long i = 0; i < \(rows); i++)
          for (long k = 0; k < \(gh); k++) dbih[k] += dax[i * \(gh) + k];
        memcpy(dh0, carry_h, sizeof(float) * \(batch * h));
      \(lstm ? "  memcpy(dc0, carry_c, sizeof(float) * \(batch * h));\n" : "")
      """
    return body
  }

  /// Each gate's pre-activation gradient on the input side (ax) and the hidden side (ah), and what flows straight to
  /// the previous state (the GRU's z·dh, the LSTM's cell gradient).
  static func gateGradient(_ r: RecurrentAttributes) -> String {
    let h = r.hidden
    switch r.cell {
    case .rnnTanh: return "        const float a = dh * (1.0f - out[j] * out[j]);\n        ax[j] = a; ah[j] = a;"
    case .rnnRelu: return "        const float a = out[j] > 0.0f ? dh : 0.0f;\n        ax[j] = a; ah[j] = a;"
    case .lstm:
      return """
                const float tc = danlu_tanh(out[\(h) + j]);
                const float dc = dout[\(h) + j] + carry_c[n * \(h) + j] + dh * o * (1.0f - tc * tc);
                const float gi = dc * g * i * (1.0f - i), gf = dc * cprev[j] * f * (1.0f - f);
                const float gg = dc * i * (1.0f - g * g), go = dh * tc * o * (1.0f - o);
                ax[j] = ah[j] = gi; ax[\(h) + j] = ah[\(h) + j] = gf; ax[\(2 * h) + j] = ah[\(2 * h) + j] = gg;
                ax[\(3 * h) + j] = ah[\(3 * h) + j] = go;
                next_c[n * \(h) + j] = dc * f;
        """
    case .gru:
      return """
                const float dan = dh * (1.0f - z) * (1.0f - cand * cand);
                const float dar = dan * hn * reset * (1.0f - reset), daz = dh * (hprev[j] - cand) * z * (1.0f - z);
                ax[j] = ah[j] = dar; ax[\(h) + j] = ah[\(h) + j] = daz;
                ax[\(2 * h) + j] = dan; ah[\(2 * h) + j] = dan * reset;
                next_h[n * \(h) + j] += dh * z;
        """
    }
  }
}
