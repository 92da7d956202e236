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

    /* R batch rows (inputs at hr[r][k]) by P gates (weights at w and w + 8, rows of stride s) by 8 units over
       k < depth, accumulated into acc[r][Q] and, for a second gate, acc[r][1]: the step's register tile with 8
       floats a register. Q = 1 puts a lone gate's sums in the second column, where the GRU keeps its new gate's input
       side apart from the hidden side (the reset gate scales only that one). The weights 16 rows ahead are fetched as
       it goes: a step streams all of them (1.5 MB for lstm.yaml, more than the two cores' L2), each block's first
       run from L3, and the LSTM took 2–3% longer without (paired; 8 rows ahead about the same, 32 and 64 less). */
    static inline __attribute__((always_inline)) void danlu_recurrent_rows(const float *const *hr, const float *w, long s,
        long depth, danlu_v8f acc[6][2], const int R, const int P, const int Q) {
      const float *h[6];
      for (int r = 0; r < 6; r++) h[r] = hr[r];
      for (long k = 0; k < depth; k++) {
        __builtin_prefetch(w + (k + 16) * s);
        danlu_v8f a = danlu_load8(w + k * s), b = P > 1 ? danlu_load8(w + k * s + 8) : a;
        DANLU_IN_REGISTER8(a);
        DANLU_IN_REGISTER8(b);
        _Pragma("GCC unroll 6")
        for (int r = 0; r < R; r++) {
          const danlu_v8f x = danlu_splat8(h[r][k]);
          acc[r][Q] = danlu_fma8(x, a, acc[r][Q]);
          if (P > 1) acc[r][1] = danlu_fma8(x, b, acc[r][1]);
        }
      }
    }

    /* The block of units to run after `u` in a step: the next one, or with two threads the next neither has claimed
       (`next` counts the step's claims). */
    static inline long danlu_claim(atomic_long *next, int parties, long u) {
      return parties > 1 ? atomic_fetch_add_explicit(next, 1, memory_order_relaxed) : u + 1;
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
  /// gate scales it): the GEMM path and the backward pass; the fused step sums its own in its register tiles.
  static func inputProjection(_ r: RecurrentAttributes, _ g: Geometry) -> String {
    """
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, \(g.rows), \(g.gateRows), \(g.features), 1.0f, x, \(g.features), wih, \(g.features), 0.0f, proj, \(g.gateRows));
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

  /// The recurrence of node `index`: fused steps (`fusedSteps`) where the hidden size allows, reading weight_ih and
  /// weight_hh packed at load time where `prepacked` says so; otherwise one GEMM for the input projection of every
  /// step, then per step a GEMM and a loop of gate math.
  static func kernel(_ r: RecurrentAttributes, _ context: KernelContext, scratch: String, index: Int,
                     prepacked: (input: Bool, hidden: Bool)) -> String {
    let g = Geometry(r, input: context.shape(0))
    var body = "  const float *x = \(context.x(0)), *wih = \(context.x(1)), *whh = \(context.x(2)), *bih = \(context.x(3)), "
      + "*bhh = \(context.x(4)), *h0 = \(context.x(5));\n"
    if r.cell == .lstm { body += "  const float *c0 = \(context.x(6));\n" }
    body += context.y
    if r.fusesSteps { return body + fusedSteps(r, g, index: index, scratch: scratch, prepacked: prepacked) }
    body += "  float *proj = \(scratch), *hid = proj + \(g.rows * g.gateRows);\n" + inputProjection(r, g)
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

  /// Where the vector gate math reads each gate's pre-activation from.
  enum GateSums {
    /// The GEMM path's input projection `p` (biases included) and hidden product `q` (the GRU adds b_hh itself).
    case projected
    /// The fused step's sums of both sides and both biases by slot (the C expression of slot k): slot k holds gate
    /// k, except that the GRU's new gate keeps its hidden side (with b_hn) in slot 2 and its input side (with b_in) in
    /// slot 3, since the reset gate scales only the hidden side.
    case summed((Int) -> String)
  }

  /// The gates and the new state for `lanes` (16 or 8) hidden units at once (`VectorMath`), the same math as `gates`
  /// + `gateMath`.
  static func vectorGates(_ r: RecurrentAttributes, _ sums: GateSums = .projected, lanes: Int = 16) -> String {
    let h = r.hidden
    let (v, load) = ("danlu_v\(lanes)f", "danlu_load\(lanes)")
    let (sigmoid, tanh, store) = ("danlu_sigmoid\(lanes)", "danlu_tanh\(lanes)", "danlu_store\(lanes)")
    // Gate k's pre-activation; for the GRU's new gate, its input side and its hidden side with b_hn.
    let pre: (Int) -> String, newInput: String, newHidden: String
    switch sums {
    case .projected:
      let bias = { (k: Int) in r.cell == .gru ? " + \(load)(bhh + \(k * h) + j)" : "" }
      pre = { "\(load)(p + \($0 * h) + j) + \(load)(q + \($0 * h) + j)" + bias($0) }
      (newInput, newHidden) = ("\(load)(p + \(2 * h) + j)", "\(load)(q + \(2 * h) + j)" + bias(2))
    case .summed(let slot):
      (pre, newInput, newHidden) = (slot, slot(3), slot(2))
    }
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
                const \(v) reset = \(sigmoid)(\(pre(0))), z = \(sigmoid)(\(pre(1)));
                const \(v) cand = \(tanh)(\(newInput) + reset * (\(newHidden)));
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
