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
    #include <pthread.h>
    #include <sched.h>
    #include <stdatomic.h>

    /* Threads meet here after every step: the last to arrive opens the next phase; the others spin (a step is tens
       of microseconds, far shorter than a sleep and wake-up), then yield if the wait drags on. */
    typedef struct { atomic_int arrived, phase; } danlu_barrier;
    static void danlu_barrier_wait(danlu_barrier *b, int parties) {
      const int phase = atomic_load_explicit(&b->phase, memory_order_acquire);
      if (atomic_fetch_add_explicit(&b->arrived, 1, memory_order_acq_rel) == parties - 1) {
        atomic_store_explicit(&b->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&b->phase, phase + 1, memory_order_release);
      } else {
        for (long spins = 0; atomic_load_explicit(&b->phase, memory_order_acquire) == phase; spins++) {
          if (spins > 4000) sched_yield();  /* another thread (an OpenBLAS worker still spinning) may hold the core */
    #if defined(__x86_64__)
          else __builtin_ia32_pause();
    #endif
        }
      }
    }

    /* Two parts when there are two threads to give (set_threads, else the cores online) and enough work (MACs) to
       pay for starting one. */
    static int danlu_parallel_parts(double macs) {
      return danlu_threads_available(danlu_threads) >= 2 && macs >= 16e6 ? 2 : 1;
    }

    /* R batch rows (h at hr[r][k]) by P gates (weights w0, w1 with row strides s0, s1) by 8 units over k0..<k1,
       accumulated into acc: the step's register tile with 8 floats a register. */
    static inline __attribute__((always_inline)) void danlu_recurrent_rows(const float *const *hr, const float *w0,
        long s0, const float *w1, long s1, long k0, long k1, danlu_v8f acc[6][2], const int R, const int P) {
      const float *h[6];
      for (int r = 0; r < 6; r++) h[r] = hr[r];
      for (long k = k0; k < k1; k++) {
        danlu_v8f a = danlu_load8(w0 + k * s0), b = P > 1 ? danlu_load8(w1 + k * s1) : a;
        DANLU_IN_REGISTER8(a);
        DANLU_IN_REGISTER8(b);
        _Pragma("GCC unroll 6")
        for (int r = 0; r < R; r++) {
          const danlu_v8f x = danlu_splat8(h[r][k]);
          acc[r][0] = danlu_fma8(x, a, acc[r][0]);
          if (P > 1) acc[r][1] = danlu_fma8(x, b, acc[r][1]);
        }
      }
    }

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
  /// gate scales it); the fused step adds the biases in its gate math instead (`biases: false`), saving a pass.
  static func inputProjection(_ r: RecurrentAttributes, _ g: Geometry, biases: Bool = true) -> String {
    let product = "  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, \(g.rows), \(g.gateRows), \(g.features), 1.0f, x, \(g.features), wih, \(g.features), 0.0f, proj, \(g.gateRows));\n"
    guard biases else { return product }
    return product + """
      for (long i = 0; i < \(g.rows); i++)
        for (long k = 0; k < \(g.gateRows); k++) proj[i * \(g.gateRows) + k] += \(r.cell == .gru ? "bih[k]" : "bih[k] + bhh[k]");

    """
  }

  /// `hid` = hp · weight_hhᵀ for every batch row, one GEMM.
  static func hiddenProduct(_ g: Geometry) -> String {
    "    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, \(g.batch), \(g.gateRows), \(g.hidden), 1.0f, hp, ld, whh, \(g.hidden), 0.0f, hid, \(g.gateRows));\n"
  }

  /// Inside the step loop: t, and the previous step's states `hp` (row stride `ld`; h0 at the first step, else read in
  /// place from `states`, the result).
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

  static func kernel(_ r: RecurrentAttributes, _ context: KernelContext, scratch: String, index: Int, prepacked: Bool) -> String {
    let g = Geometry(r, input: context.shape(0))
    var body = "  const float *x = \(context.x(0)), *wih = \(context.x(1)), *whh = \(context.x(2)), *bih = \(context.x(3)), "
      + "*bhh = \(context.x(4)), *h0 = \(context.x(5));\n"
    if r.cell == .lstm { body += "  const float *c0 = \(context.x(6));\n" }
    body += context.y + "  float *proj = \(scratch), *hid = proj + \(g.rows * g.gateRows);\n"
    if g.hidden % 16 == 0 {
      return body + inputProjection(r, g, biases: false) + fusedSteps(r, g, index: index, prepacked: prepacked)
    }
    body += inputProjection(r, g)
    body += "  for (long step = 0; step < \(g.steps); step++) {\n" + previousState(r, g, states: "y") + hiddenProduct(g)
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

  /// Each step as one pass: for 16 hidden units and 4 batch rows at a time, the recurrent product of those units'
  /// gate rows (4 × G vectors of 16 accumulators, from weight_hh in panels of 32 rows, `PackedPanels`, so that each
  /// k reads one vector of each gate's panel) goes straight into the gate math, which writes h (and c). OpenBLAS's
  /// sgemm at M = batch repacked weight_hh on every step and left the gates for a second pass over memory. Two
  /// threads take half of the units each and meet at a barrier after every step (the next step reads all of h);
  /// `stepFunction` is the loop. With `prepacked` weight_hh is `pack_panels`, made once at load time (`pack-weights`);
  /// otherwise (a train step's forward) it is packed here on every call.
  static func fusedSteps(_ r: RecurrentAttributes, _ g: Geometry, index: Int, prepacked: Bool) -> String {
    let h = g.hidden
    let macs = g.steps * g.batch * g.gateRows * h
    let pack = prepacked ? "  const float *packed = whh;  /* packed at load time (`pack`) */\n"
      : "  float *packed = hid;\n" + packing(r)
    return pack + """
        struct recurrent_\(index) steps = {proj, packed, h0, \(r.cell == .lstm ? "c0" : "0"), bih, bhh, y, {0, 0}, 1, \(h / 32)};
        pthread_t helper;
        if (danlu_parallel_parts(\(macs).0) > 1 && \(h / 16) > 1) {
          steps.parties = 2;
          if (pthread_create(&helper, 0, recurrent_\(index)_helper, &steps) != 0) steps.parties = 1;
        }
        if (steps.parties > 1) {
          recurrent_\(index)_steps(&steps, 0, \(h / 32));
          pthread_join(helper, 0);
        } else {
          recurrent_\(index)_steps(&steps, 0, \(h / 16));
        }

      """
  }

  /// The fused step loop of node `index` as a top-level C function of a range of 16-unit blocks (nil when the
  /// hidden size is not a multiple of 16 and the kernel takes the GEMM path).
  static func stepFunction(_ r: RecurrentAttributes, _ context: KernelContext, index: Int) -> String? {
    let g = Geometry(r, input: context.shape(0))
    guard g.hidden % 16 == 0 else { return nil }
    let (h, gates) = (g.hidden, r.gates)
    // A block of k whose slice of a panel (kBlock · G · 64 bytes, 16 KB for an LSTM) stays in L1 while every group of
    // 4 batch rows passes over it; the groups' partial sums wait in `partial` for the next block.
    let kBlock = max(16, 4096 / (gates * 16) / 16 * 16)
    // Each gate's panel stride: 32 unless the gate rows end in a 16-wide panel (a GRU of hidden 16·odd).
    let stride = g.gateRows % 32 == 0 ? "32" : "gs[gate]"
    let runs = (g.batch + 5) / 6  // of batch rows, with 8 floats a register
    return """
      struct recurrent_\(index) {
        const float *proj, *packed, *h0, *c0, *bih, *bhh;
        float *y;
        danlu_barrier barrier;
        int parties;
        long split;  /* the helper thread's first 16-unit block */
      };

      static void recurrent_\(index)_steps(struct recurrent_\(index) *a, long u_begin, long u_end) {
        const float *proj = a->proj, *packed = a->packed, *h0 = a->h0, *c0 = a->c0, *bih = a->bih, *bhh = a->bhh;
        float *y = a->y;
        (void)c0; (void)bhh;
      #if DANLU_REGISTER_FLOATS == 16
        danlu_v16f partial[\((g.batch + 3) / 4)][4][\(gates)];
      #else
        float sums[\(g.batch)][\(gates)][16];
      #endif
        for (long step = 0; step < \(g.steps); step++) {
      \(previousState(r, g, states: "y"))
          for (long u = u_begin; u < u_end; u++) {
          #if DANLU_REGISTER_FLOATS == 16
            /* Gate g's 16 rows of this unit block: in panel (gH + 16u) / 32, from its column (gH + 16u) % 32. */
            const float *gp[\(gates)];
            long gs[\(gates)];
            for (int gate = 0; gate < \(gates); gate++) {
              const long row = gate * \(h) + u * 16, p = row / 32;
              gs[gate] = \(g.gateRows) - p * 32 < 32 ? \(g.gateRows) - p * 32 : 32;
              gp[gate] = packed + p * \(32 * h) + row % 32;
            }
            const long chunk = \(kBlock);
          #else
            const long chunk = \(h);
          #endif
            for (long k0 = 0; k0 < \(h); k0 += chunk) {
              const long k1 = k0 + chunk < \(h) ? k0 + chunk : \(h);
          #if DANLU_REGISTER_FLOATS == 16
              for (long n0 = 0; n0 < \(g.batch); n0 += 4) {
                const int rows = \(g.batch) - n0 < 4 ? (int)(\(g.batch) - n0) : 4;
                const float *hr[4];
                for (int r = 0; r < 4; r++) hr[r] = hp + (n0 + (r < rows ? r : 0)) * ld;
                danlu_v16f acc[4][\(gates)];
                for (int r = 0; r < 4; r++)
                  for (int gate = 0; gate < \(gates); gate++) acc[r][gate] = k0 == 0 ? (danlu_v16f){0} : partial[n0 / 4][r][gate];
                for (long k = k0; k < k1; k++) {
                  danlu_v16f b[4];
                  for (int r = 0; r < 4; r++) b[r] = danlu_splat16(hr[r][k]);
                  for (int gate = 0; gate < \(gates); gate++) {
                    danlu_v16f w = danlu_load16(gp[gate] + k * \(stride));
                    DANLU_IN_REGISTER(w);  /* gcc would fold the load into each of the 4 FMAs */
                    for (int r = 0; r < 4; r++) acc[r][gate] = danlu_fma16(b[r], w, acc[r][gate]);
                  }
                }
                if (k1 < \(h)) {
                  for (int r = 0; r < 4; r++)
                    for (int gate = 0; gate < \(gates); gate++) partial[n0 / 4][r][gate] = acc[r][gate];
                  continue;
                }
                for (int r = 0; r < rows; r++) {
                  const long n = n0 + r, j = u * 16;
                  const float *p = proj + \(g.row) * \(g.gateRows), *hprev = hp + n * ld;
                  float *out = y + \(g.row) * \(g.width);
                  (void)hprev;
      \(r.cell == .lstm ? "            const float *cprev = step > 0 ? hprev + \(g.hidden) : c0 + n * \(g.hidden);\n" : "")\
      \(vectorGates(r, hidden: { "acc[r][\($0)]" }, addBiases: true))
                }
              }
          #else
              /* Eight floats a register: runs of up to 6 batch rows by 2 gates by 8 units (half the block) at a
                 time, 12 accumulators (2 rows by all 4 gates kept 8 chains of 4-cycle multiply-adds in flight, too few
                 to fill both units); the sums of every gate and half meet in `sums` for the gate math. The weights
                 are by unit blocks (`packing`), k in one chunk: each call streams its pair's run (16 KB for the
                 benchmark LSTM) from L2, where chunks of 64 k had it 4% slower. */
              for (int run = 0; run < \(runs); run++) {
                const long n0 = run * \(g.batch) / \(runs);
                const int rows = (int)((run + 1) * \(g.batch) / \(runs) - n0);
                const float *hr[6];
                for (int r = 0; r < 6; r++) hr[r] = hp + (n0 + (r < rows ? r : 0)) * ld;
                for (int half = 0; half < 2; half++)
                  for (int g0 = 0; g0 < \(gates); g0 += 2) {
                    const int pair = \(gates) - g0 < 2 ? 1 : 2;
                    danlu_v8f acc[6][2];
                    for (int r = 0; r < 6; r++)
                      for (int q = 0; q < 2; q++)
                        acc[r][q] = k0 == 0 || r >= rows || q >= pair ? (danlu_v8f){0} : danlu_load8(sums[n0 + r][g0 + q] + 8 * half);
                    const float *w0 = packed + u * \(gates * 16 * h) + half * \(gates * 8 * h) + g0 * \(8 * h), *w1 = w0 + 8;
                    const long s0 = 8 * pair, s1 = 8 * pair;
                    #define DANLU_STEP_ROWS(R, P) danlu_recurrent_rows(hr, w0, s0, w1, s1, k0, k1, acc, R, P)
                    switch (rows * 2 + pair) {
                      case 2 + 1: DANLU_STEP_ROWS(1, 1); break; case 2 + 2: DANLU_STEP_ROWS(1, 2); break;
                      case 4 + 1: DANLU_STEP_ROWS(2, 1); break; case 4 + 2: DANLU_STEP_ROWS(2, 2); break;
                      case 6 + 1: DANLU_STEP_ROWS(3, 1); break; case 6 + 2: DANLU_STEP_ROWS(3, 2); break;
                      case 8 + 1: DANLU_STEP_ROWS(4, 1); break; case 8 + 2: DANLU_STEP_ROWS(4, 2); break;
                      case 10 + 1: DANLU_STEP_ROWS(5, 1); break; case 10 + 2: DANLU_STEP_ROWS(5, 2); break;
                      case 12 + 1: DANLU_STEP_ROWS(6, 1); break; default: DANLU_STEP_ROWS(6, 2); break;
                    }
                    #undef DANLU_STEP_ROWS
                    for (int r = 0; r < rows; r++)
                      for (int q = 0; q < pair; q++) danlu_store8(sums[n0 + r][g0 + q] + 8 * half, acc[r][q]);
                  }
                if (k1 < \(h)) continue;
                for (int r = 0; r < rows; r++)
                  for (int half = 0; half < 2; half++) {
                  const long n = n0 + r, j = u * 16 + 8 * half;
                  const float *p = proj + \(g.row) * \(g.gateRows), *hprev = hp + n * ld;
                  float *out = y + \(g.row) * \(g.width);
                  (void)hprev;
      \(r.cell == .lstm ? "            const float *cprev = step > 0 ? hprev + \(g.hidden) : c0 + n * \(g.hidden);\n" : "")\
      \(vectorGates(r, hidden: { "danlu_load8(sums[n0 + r][\($0)] + 8 * half)" }, addBiases: true, lanes: 8))
                }
              }
          #endif
            }
          }
          if (a->parties > 1) danlu_barrier_wait(&a->barrier, a->parties);
        }
      }

      static void *recurrent_\(index)_helper(void *argument) {
        struct recurrent_\(index) *a = argument;
        recurrent_\(index)_steps(a, a->split, \(h / 16));
        return 0;
      }


      """
  }

  /// The gates and the new state for `lanes` (16 or 8) hidden units at once (`VectorMath`), the same math as `gates`
  /// + `gateMath`; `hidden(k)` is gate k's hidden-side vector (by default read from `q`).
  static func vectorGates(_ r: RecurrentAttributes, hidden: ((Int) -> String)? = nil, addBiases: Bool = false,
                          lanes: Int = 16) -> String {
    let h = r.hidden
    let (v, load) = ("danlu_v\(lanes)f", "danlu_load\(lanes)")
    let (sigmoid, tanh, store) = ("danlu_sigmoid\(lanes)", "danlu_tanh\(lanes)", "danlu_store\(lanes)")
    let hiddenSide = hidden ?? { "\(load)(q + \($0 * h) + j)" }
    func input(_ k: Int) -> String {
      let biases = !addBiases ? "" : " + \(load)(bih + \(k * h) + j)" + (r.cell == .gru ? "" : " + \(load)(bhh + \(k * h) + j)")
      return "\(load)(p + \(k * h) + j)" + biases
    }
    func bias(_ k: Int) -> String { "\(load)(bhh + \(k * h) + j)" }
    func pre(_ k: Int) -> String { "\(input(k)) + \(hiddenSide(k))" }
    switch r.cell {
    case .rnnTanh: return "        \(store)(out + j, \(tanh)(\(pre(0))));"
    case .rnnRelu:
      return """
                const \(v) a = \(pre(0)), zero = {0};
                \(store)(out + j, danlu_select\(lanes)(a > zero, a, zero));
        """
    case .lstm:
      return """
                const \(v) i = \(sigmoid)(\(pre(0))), f = \(sigmoid)(\(pre(1)));
                const \(v) g = \(tanh)(\(pre(2))), o = \(sigmoid)(\(pre(3)));
                const \(v) c = f * \(load)(cprev + j) + i * g;
                \(store)(out + \(h) + j, c);
                \(store)(out + j, o * \(tanh)(c));
        """
    case .gru:
      return """
                const \(v) reset = \(sigmoid)(\(pre(0)) + \(bias(0))), z = \(sigmoid)(\(pre(1)) + \(bias(1)));
                const \(v) cand = \(tanh)(\(input(2)) + reset * (\(hiddenSide(2)) + \(bias(2))));
                \(store)(out + j, (1.0f - z) * cand + z * \(load)(hprev + j));
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
}
