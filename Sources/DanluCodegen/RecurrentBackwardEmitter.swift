import DanluIR

/// C for the gradient of one recurrent layer and direction (`training(.recurrentGrad)`), beside the forward kernels of
/// `RecurrentEmitter`, whose geometry, gate math and input projection it shares.
extension RecurrentEmitter {
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

      """ + previousState(r, g, states: "res") + hiddenProduct(g) + """
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
