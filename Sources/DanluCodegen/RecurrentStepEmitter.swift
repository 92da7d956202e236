import DanluIR

/// The fused recurrent step (`RecurrentAttributes.fusesSteps`): each step is one pass in which every register tile
/// of batch rows by gate units sums x · weight_ihᵀ, then the previous h · weight_hhᵀ, on top of both biases, and goes
/// straight into the gate math, which writes h (and c) into the result.
extension RecurrentEmitter {
  /// Slots of sums per batch row and unit: one per gate, and one more for the GRU's new gate, whose input side stays
  /// apart from its hidden side (`GateSums.summed`).
  static func slotCount(_ r: RecurrentAttributes) -> Int { r.gates + (r.cell == .gru ? 1 : 0) }

  /// The C expression of slot `s`'s biases for `lanes` units from unit `j`: b_ih + b_hh of its gate, or one of them
  /// for the GRU's new gate (b_hn in slot 2, b_in in slot 3).
  static func slotBias(_ r: RecurrentAttributes, _ s: Int, lanes: Int, j: String) -> String {
    let (load, h) = ("danlu_load\(lanes)", r.hidden)
    if r.cell == .gru && s == 3 { return "\(load)(bih + \(2 * h) + \(j))" }
    if r.cell == .gru && s == 2 { return "\(load)(bhh + \(2 * h) + \(j))" }
    return "\(load)(bih + \(s * h) + \(j)) + \(load)(bhh + \(s * h) + \(j))"
  }

  /// The kernel's side: both weights packed for the step (`packing`; on every call unless `prepacked` at load time),
  /// then `stepFunction`'s loop on this thread and, when there are two threads and enough work, on a helper thread
  /// too. The input projection used to be one OpenBLAS GEMM into a scratch of every step's gate rows (4 MB for the
  /// benchmark LSTM), which `sgemm` zeroed in a pass of its own before writing it and the gate math read back; in the
  /// step's tiles its multiply-adds run at the same rate as in OpenBLAS's kernel, and the LSTM benchmark went 5.8 →
  /// 5.4 ms (paired runs of both in one process, 0.93–0.95 of the time).
  static func fusedSteps(_ r: RecurrentAttributes, _ g: Geometry, index: Int, scratch: String,
                         prepacked: (input: Bool, hidden: Bool)) -> String {
    let (h, f) = (g.hidden, g.features)
    let macs = g.steps * g.batch * g.gateRows * (f + h)
    var pack = prepacked.input ? "  const float *packed_ih = wih;  /* packed at load time (`pack`) */\n"
      : "  float *packed_ih = \(scratch);\n" + packing(r, depth: f, from: "wih", into: "packed_ih")
    pack += prepacked.hidden ? "  const float *packed_hh = whh;  /* packed at load time (`pack`) */\n"
      : "  float *packed_hh = \(scratch) + \(prepacked.input ? 0 : g.gateRows * f);\n" + packing(r, depth: h, from: "whh", into: "packed_hh")
    return pack + """
        struct recurrent_\(index) steps = {x, packed_ih, packed_hh, h0, \(r.cell == .lstm ? "c0" : "0"), bih, bhh, y, {0, 0}, {0, 0}, 1};
        pthread_t helper;
        if (danlu_parallel_parts(\(macs).0) > 1 && \(h / 16) > 1) {
          steps.parties = 2;
          if (pthread_create(&helper, 0, recurrent_\(index)_helper, &steps) != 0) steps.parties = 1;
        }
        recurrent_\(index)_steps(&steps);
        if (steps.parties > 1) pthread_join(helper, 0);

      """
  }

  /// The fused step loop of node `index` as top-level C functions (nil when the steps are not fused and the kernel
  /// takes the GEMM path). Per step, the threads claim blocks of 16 units as they go (`danlu_claim`), then meet at a
  /// barrier (the next step reads all of h). With the units split in fixed halves, each thread spun at the barrier
  /// for 12–19% of its time on this VM, waiting for the other whenever the machine slowed one of them.
  static func stepFunction(_ r: RecurrentAttributes, _ context: KernelContext, index: Int) -> String? {
    guard r.fusesSteps else { return nil }
    let g = Geometry(r, input: context.shape(0))
    let (h, slots) = (g.hidden, slotCount(r))
    return """
      struct recurrent_\(index) {
        const float *x, *packed_ih, *packed_hh, *h0, *c0, *bih, *bhh;
        float *y;
        danlu_barrier barrier;
        atomic_long next[2];  /* each step's claims of unit blocks, by the step's parity */
        int parties;
      };

      static void recurrent_\(index)_steps(struct recurrent_\(index) *a) {
        const float *x = a->x, *packed_ih = a->packed_ih, *packed_hh = a->packed_hh, *h0 = a->h0, *c0 = a->c0;
        const float *bih = a->bih, *bhh = a->bhh;
        float *y = a->y;
        (void)c0;
      #if DANLU_REGISTER_FLOATS == 16
        danlu_v16f partial[\((g.batch + 3) / 4)][4][\(slots)];
      #else
        float sums[\(g.batch)][\(slots)][16];
      #endif
        for (long step = 0; step < \(g.steps); step++) {
      \(previousState(r, g, states: "y"))
          /* Every claim on the other parity's count was made before the last barrier: it is free for the next step. */
          if (a->parties > 1) atomic_store_explicit(&a->next[(step + 1) % 2], 0, memory_order_relaxed);
          atomic_long *next = &a->next[step % 2];
          for (long u = danlu_claim(next, a->parties, -1); u < \(h / 16); u = danlu_claim(next, a->parties, u)) {
      \(wideTile(r, g))
      \(narrowTile(r, g))
          }
          if (a->parties > 1) danlu_barrier_wait(&a->barrier, a->parties);
        }
      }

      static void *recurrent_\(index)_helper(void *argument) {
        recurrent_\(index)_steps(argument);
        return 0;
      }


      """
  }

  /// The tile with 16 floats a register: 4 batch rows by every gate (slot) of 16 units, k in blocks whose slice of
  /// the gates' panels (kBlock · G · 64 bytes, 16 KB for an LSTM) stays in L1 while every group of 4 rows passes over
  /// it; the groups' partial sums wait in `partial` for the next block. k runs over the input side (x by weight_ih,
  /// k < F) and then the hidden side (the previous h by weight_hh); both weights are in panels of 32 gate rows.
  private static func wideTile(_ r: RecurrentAttributes, _ g: Geometry) -> String {
    let (h, f, gates, slots) = (g.hidden, g.features, r.gates, slotCount(r))
    let kBlock = max(16, 4096 / (gates * 16) / 16 * 16)
    // Each gate's panel stride: 32 unless the gate rows end in a 16-wide panel (a GRU of hidden 16·odd).
    let stride = g.gateRows % 32 == 0 ? "32" : "gs[gate]"
    let inputSlot = r.cell == .gru ? "gate + (gate == 2)" : "gate"
    func loop(_ weights: String, _ slot: String) -> String {
      """
                  for (long k = k0 - base; k < k1 - base; k++) {
                    danlu_v16f b[4];
                    for (int r = 0; r < 4; r++) b[r] = danlu_splat16(hr[r][k]);
                    for (int gate = 0; gate < \(gates); gate++) {
                      danlu_v16f w = danlu_load16(\(weights)[gate] + k * \(stride));
                      DANLU_IN_REGISTER(w);  /* gcc would fold the load into each of the 4 FMAs */
                      for (int r = 0; r < 4; r++) acc[r][\(slot)] = danlu_fma16(b[r], w, acc[r][\(slot)]);
                    }
                  }
      """
    }
    let start = (0..<slots).map {
      "            acc[r][\($0)] = k0 == 0 ? \(slotBias(r, $0, lanes: 16, j: "u * 16")) : partial[n0 / 4][r][\($0)];\n"
    }.joined()
    return """
        #if DANLU_REGISTER_FLOATS == 16
            /* Gate g's 16 rows of this unit block: in panel (gH + 16u) / 32, from its column (gH + 16u) % 32. */
            const float *gi[\(gates)], *gp[\(gates)];
            long gs[\(gates)];
            for (int gate = 0; gate < \(gates); gate++) {
              const long row = gate * \(h) + u * 16, p = row / 32;
              gs[gate] = \(g.gateRows) - p * 32 < 32 ? \(g.gateRows) - p * 32 : 32;
              gi[gate] = packed_ih + p * \(32 * f) + row % 32;
              gp[gate] = packed_hh + p * \(32 * h) + row % 32;
            }
            for (long k0 = 0, k1; k0 < \(f + h); k0 = k1) {
              const int input = k0 < \(f);
              const long base = input ? 0 : \(f), end = input ? \(f) : \(f + h);
              k1 = k0 + \(kBlock) < end ? k0 + \(kBlock) : end;
              for (long n0 = 0; n0 < \(g.batch); n0 += 4) {
                const int rows = \(g.batch) - n0 < 4 ? (int)(\(g.batch) - n0) : 4;
                const float *hr[4];
                for (int r = 0; r < 4; r++) {
                  const long n = n0 + (r < rows ? r : 0);
                  hr[r] = input ? x + \(g.row) * \(f) : hp + n * ld;
                }
                danlu_v16f acc[4][\(slots)];
                for (int r = 0; r < 4; r++) {
      \(start)          }
                if (input) {
      \(loop("gi", inputSlot))
                } else {
      \(loop("gp", "gate"))
                }
                if (k1 < \(f + h)) {
                  for (int r = 0; r < 4; r++)
                    for (int s = 0; s < \(slots); s++) partial[n0 / 4][r][s] = acc[r][s];
                  continue;
                }
                for (int r = 0; r < rows; r++) {
                  const long n = n0 + r, j = u * 16;
                  const float *hprev = hp + n * ld;
                  float *out = y + \(g.row) * \(g.width);
                  (void)hprev;
      \(r.cell == .lstm ? "            const float *cprev = step > 0 ? hprev + \(h) : c0 + n * \(h);\n" : "")\
      \(vectorGates(r, .summed { "acc[r][\($0)]" }))
                }
              }
            }
        #else
      """
  }

  /// The tile with 8 floats a register: runs of up to 6 batch rows by 2 gates by 8 units (half the block) at a time,
  /// 12 accumulators (2 rows by all 4 gates kept 8 chains of 4-cycle multiply-adds in flight, too few to fill both
  /// units), k in one chunk on each side; the sums of every gate and half meet in `sums` for the gate math. The
  /// weights are by unit blocks (`packing`): each call streams its pair's run (16 KB of weight_hh for the benchmark
  /// LSTM) from L2, where chunks of 64 k had it 4% slower.
  private static func narrowTile(_ r: RecurrentAttributes, _ g: Geometry) -> String {
    let (h, f, gates) = (g.hidden, g.features, r.gates)
    let runs = (g.batch + 5) / 6
    let (lone, pairs) = ("pair > 1", "danlu_load8(bih + (g0 + 1) * \(h) + j) + danlu_load8(bhh + (g0 + 1) * \(h) + j)")
    let both = "danlu_load8(bih + g0 * \(h) + j) + danlu_load8(bhh + g0 * \(h) + j)"
    // The first column starts from gate g0's biases, the second from gate g0 + 1's; a GRU's lone new gate has b_hn in
    // the first (its hidden side) and b_in in the second (its input side, `danlu_recurrent_rows` with Q = 1).
    let (first, second) = r.cell == .gru
      ? ("\(lone) ? \(both) : danlu_load8(bhh + g0 * \(h) + j)", "\(lone) ? \(pairs) : danlu_load8(bih + g0 * \(h) + j)")
      : (both, "\(lone) ? \(pairs) : (danlu_v8f){0}")
    let apart = r.cell == .gru ? "(P) == 1" : "0"
    // One case a line for each run's rows, by its gates (one or two).
    let switchCases = (1...6).map { (rows: Int) -> String in
      let two = rows == 6 ? "default:" : "case \(rows * 2) + 2:"
      return "              case \(rows * 2) + 1: DANLU_STEP_ROWS(\(rows), 1); break; \(two) DANLU_STEP_ROWS(\(rows), 2); break;"
    }.joined(separator: "\n")
    return """
            for (int run = 0; run < \(runs); run++) {
              const long n0 = run * \(g.batch) / \(runs);
              const int rows = (int)((run + 1) * \(g.batch) / \(runs) - n0);
              const float *hr[6], *xr[6];
              for (int r = 0; r < 6; r++) {
                const long n = n0 + (r < rows ? r : 0);
                hr[r] = hp + n * ld;
                xr[r] = x + \(g.row) * \(f);
              }
              for (int half = 0; half < 2; half++)
                for (int g0 = 0; g0 < \(gates); g0 += 2) {
                  const int pair = \(gates) - g0 < 2 ? 1 : 2;
                  const long j = u * 16 + 8 * half;
                  const danlu_v8f first = \(first), second = \(second);
                  danlu_v8f acc[6][2];
                  for (int r = 0; r < 6; r++) {
                    acc[r][0] = first;
                    acc[r][1] = second;
                  }
                  const float *wi = packed_ih + u * \(gates * 16 * f) + half * \(gates * 8 * f) + g0 * \(8 * f);
                  const float *wh = packed_hh + u * \(gates * 16 * h) + half * \(gates * 8 * h) + g0 * \(8 * h);
                  #define DANLU_STEP_ROWS(R, P) (danlu_recurrent_rows(xr, wi, 8 * (P), \(f), acc, R, P, \(apart)), \\
                                                 danlu_recurrent_rows(hr, wh, 8 * (P), \(h), acc, R, P, 0))
                  switch (rows * 2 + pair) {
      \(switchCases)
                  }
                  #undef DANLU_STEP_ROWS
                  for (int r = 0; r < rows; r++) {
                    for (int q = 0; q < pair; q++) danlu_store8(sums[n0 + r][g0 + q] + 8 * half, acc[r][q]);
      \(r.cell == .gru ? "                if (pair == 1) danlu_store8(sums[n0 + r][3] + 8 * half, acc[r][1]);\n" : "")\
                  }
                }
              for (int r = 0; r < rows; r++)
                for (int half = 0; half < 2; half++) {
                  const long n = n0 + r, j = u * 16 + 8 * half;
                  const float *hprev = hp + n * ld;
                  float *out = y + \(g.row) * \(g.width);
                  (void)hprev;
      \(r.cell == .lstm ? "            const float *cprev = step > 0 ? hprev + \(h) : c0 + n * \(h);\n" : "")\
      \(vectorGates(r, .summed { "danlu_load8(sums[n0 + r][\($0)] + 8 * half)" }, lanes: 8))
                }
            }
        #endif
      """
  }
}
