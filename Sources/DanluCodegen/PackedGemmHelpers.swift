/// The C helpers behind every packed product (`PackedGemmEmitter`): the register tiles over one panel, the block and
/// gather drivers that walk a panel in chunks, and the stores of a block's sums; in every source with a packed
/// product, for both register widths.
extension PackedGemmEmitter {
  /// The most positions `danlu_panel_gather` (8 floats a register) takes at once: `DANLU_GATHER_ROWS` in `helpers`.
  static let gatherRows = 60

  /// The helper every packed product calls: one block of `rows` ≤ 12 rows of `a` (element (r, k) at
  /// `a[r·a_row + k·a_depth]`) by one panel of `width` (32 or 16) columns over `depth`, written to `y` (element (r, l)
  /// at `y[r·y_row + l·y_column]`: a matmul's rows, or through a small block a convolution's NCHW channels).
  static let helpers = """
    /* A block's sums (position r, filter l) into a blocked output (`Layout.nchw8c`): each position's 8 filters of a
       block as one vector, the blocks `y_block` floats apart. */
    static inline void danlu_sums_store_blocked(float (*sums)[32], long width, float *restrict y, long y_block, int rows) {
      for (long l0 = 0; l0 < width; l0 += 8)
        for (int r = 0; r < rows; r++) memcpy(y + l0 / 8 * y_block + r * 8, sums[r] + l0, sizeof(float) * 8);
    }
    #if DANLU_REGISTER_FLOATS == 16
    /* One block with R rows and V vectors known to the compiler (fully unrolled, accumulators in registers): row r's
       element k at a[r·a_row + k·a_depth], or (`_taps`, a direct convolution's plane) at a[r·a_row + taps[k]]. */
    #define DANLU_PANEL_ROWS_BODY(ELEMENT) \\
      for (long k = 0; k < depth; k++) { \\
        danlu_v16f b0 = danlu_load16(panel + k * 16 * V), b1 = V > 1 ? danlu_load16(panel + k * 32 + 16) : b0; \\
        DANLU_IN_REGISTER(b0); \\
        DANLU_IN_REGISTER(b1); \\
        const float *ak = ELEMENT; \\
        _Pragma("GCC unroll 12") \\
        for (int r = 0; r < R; r++) { \\
          const danlu_v16f x = danlu_splat16(ak[r * a_row]); \\
          acc[r][0] = danlu_fma16(x, b0, acc[r][0]); \\
          if (V > 1) acc[r][1] = danlu_fma16(x, b1, acc[r][1]); \\
        } \\
      }
    static inline __attribute__((always_inline)) void danlu_panel_rows(const float *restrict a, long a_row, long a_depth,
        const float *restrict panel, long depth, danlu_v16f acc[12][2], const int R, const int V) {
      DANLU_PANEL_ROWS_BODY(a + k * a_depth)
    }
    static inline __attribute__((always_inline)) void danlu_panel_rows_taps(const float *restrict a, long a_row,
        const long *restrict taps, const float *restrict panel, long depth, danlu_v16f acc[12][2], const int R, const int V) {
      DANLU_PANEL_ROWS_BODY(a + taps[k])
    }

    /* One row of a by one panel (width 32 or 16) over depth, into y: four partial sums over k keep eight chains of
       multiply-adds in flight (a lone row has no other rows to hide their latency behind). */
    static void danlu_panel_vector(const float *restrict a, const float *restrict panel, long width, long depth,
                                   float *restrict y) {
      danlu_v16f acc[4][2];
      for (int u = 0; u < 4; u++) acc[u][0] = acc[u][1] = (danlu_v16f){0};
      const long v = width / 16;
      long k = 0;
      for (; k + 4 <= depth; k += 4) {
        #pragma GCC unroll 4
        for (int u = 0; u < 4; u++) {
          const danlu_v16f x = danlu_splat16(a[k + u]);
          acc[u][0] = danlu_fma16(x, danlu_load16(panel + (k + u) * width), acc[u][0]);
          if (v > 1) acc[u][1] = danlu_fma16(x, danlu_load16(panel + (k + u) * width + 16), acc[u][1]);
        }
      }
      for (; k < depth; k++) {
        const danlu_v16f x = danlu_splat16(a[k]);
        acc[0][0] = danlu_fma16(x, danlu_load16(panel + k * width), acc[0][0]);
        if (v > 1) acc[0][1] = danlu_fma16(x, danlu_load16(panel + k * width + 16), acc[0][1]);
      }
      for (long j = 0; j < v; j++) danlu_store16(y + 16 * j, (acc[0][j] + acc[1][j]) + (acc[2][j] + acc[3][j]));
    }

    /* A block's sums to y: element (r, l) at y[r·y_row + l·y_column] (a matmul's rows, or through a small block a
       convolution's NCHW channels). */
    static inline __attribute__((always_inline)) void danlu_panel_store(danlu_v16f acc[12][2], long width, float *restrict y,
        long y_row, long y_column, int rows) {
      if (y_column == 1) {
        for (int r = 0; r < rows; r++)
          for (long v = 0; v < width / 16; v++) danlu_store16(y + r * y_row + 16 * v, acc[r][v]);
        return;
      }
      float block[12][32];
      for (int r = 0; r < rows; r++)
        for (long v = 0; v < width / 16; v++) danlu_store16(block[r] + 16 * v, acc[r][v]);
      for (long l = 0; l < width; l++)
        for (int r = 0; r < rows; r++) y[r * y_row + l * y_column] = block[r][l];
    }

    /* The rows functions' calls for 1…12 rows, 32 or 16 wide (CALL(R, V)). */
    #define DANLU_PANEL_CASE(R, CALL) case R: if (width == 32) CALL(R, 2); else CALL(R, 1); break;
    #define DANLU_PANEL_SWITCH(CALL) switch (rows) { \\
        DANLU_PANEL_CASE(1, CALL) DANLU_PANEL_CASE(2, CALL) DANLU_PANEL_CASE(3, CALL) DANLU_PANEL_CASE(4, CALL) \\
        DANLU_PANEL_CASE(5, CALL) DANLU_PANEL_CASE(6, CALL) DANLU_PANEL_CASE(7, CALL) DANLU_PANEL_CASE(8, CALL) \\
        DANLU_PANEL_CASE(9, CALL) DANLU_PANEL_CASE(10, CALL) DANLU_PANEL_CASE(11, CALL) DANLU_PANEL_CASE(12, CALL) }

    /* Two entry points rather than one taking a null table: with the table a run-time pointer in the shared loop, gcc
       kept the accumulators in memory, storing each after every multiply-add (LeNet-5's second convolution at batch
       64 ran 0.35 ms against 0.16). */
    static void danlu_panel_block(const float *restrict a, long a_row, long a_depth, const float *restrict panel, long width,
                                  long depth, float *restrict y, long y_row, long y_column, int rows) {
      danlu_v16f acc[12][2];
      for (int r = 0; r < 12; r++) acc[r][0] = acc[r][1] = (danlu_v16f){0};
      #define DANLU_BLOCK_ROWS(R, V) danlu_panel_rows(a, a_row, a_depth, panel, depth, acc, R, V)
      DANLU_PANEL_SWITCH(DANLU_BLOCK_ROWS)
      #undef DANLU_BLOCK_ROWS
      danlu_panel_store(acc, width, y, y_row, y_column, rows);
    }

    static void danlu_panel_taps(const float *restrict a, long a_row, const long *restrict taps, const float *restrict panel,
                                 long width, long depth, float *restrict y, long y_row, long y_column, int rows) {
      danlu_v16f acc[12][2];
      for (int r = 0; r < 12; r++) acc[r][0] = acc[r][1] = (danlu_v16f){0};
      #define DANLU_TAPS_ROWS(R, V) danlu_panel_rows_taps(a, a_row, taps, panel, depth, acc, R, V)
      DANLU_PANEL_SWITCH(DANLU_TAPS_ROWS)
      #undef DANLU_TAPS_ROWS
      danlu_panel_store(acc, width, y, y_row, y_column, rows);
    }
    #else
    /* Eight floats a register (AVX2: sixteen registers). Runs of 3 to 6 rows take the panel by halves of 16 columns
       (12 accumulators at most, the half's two vectors and a broadcast, as OpenBLAS's Haswell kernel), runs of 1 or 2
       all 32 columns at once (8 chains of 4-cycle multiply-adds rather than 2 or 4; 3 rows by 32 spilled). A block of
       12 rows takes two passes over k and a block of gathered positions up to ten; the gathered ones go in chunks whose
       slice of the panel (16 KB) stays in L1 across the ten, the sums waiting in `sums` between chunks. One core, hot
       caches (GFLOP/s, best of 3): 12 rows 61–73, 6 rows 56–63, 4 rows 48–52, 3 rows 37. The k loops are unrolled
       twice (four pointer and counter updates and a branch shared by 24 multiply-adds instead of 12): ResNet-18's
       layer3 convolution 1.47 → 1.40 ms, the model at batch 1 22.8 → 21.8 ms; four times was slower than twice. */
    #define DANLU_HALF_DEPTH 128
    static inline __attribute__((always_inline)) void danlu_half_rows(const float *restrict a, long a_row, long a_depth,
        const float *restrict panel, long stride, long depth, danlu_v8f acc[6][4], const int R, const int V) {
      _Pragma("GCC unroll 2")
      for (long k = 0; k < depth; k++) {
        danlu_v8f b[4];
        _Pragma("GCC unroll 4")
        for (int j = 0; j < V; j++) { b[j] = danlu_load8(panel + k * stride + 8 * j); DANLU_IN_REGISTER8(b[j]); }
        const float *ak = a + k * a_depth;
        _Pragma("GCC unroll 6")
        for (int r = 0; r < R; r++) {
          const danlu_v8f x = danlu_splat8(ak[r * a_row]);
          _Pragma("GCC unroll 4")
          for (int j = 0; j < V; j++) acc[r][j] = danlu_fma8(x, b[j], acc[r][j]);
        }
      }
    }

    #ifdef __AVX__
    #include <immintrin.h>
    /* Rows r0…r0+7 of columns l0…l0+7 of a block's sums, transposed in registers, to y (element (r, l) at
       y[r + l·y_column]): eight stores of eight positions of one channel. */
    static inline void danlu_store_transposed8(float (*sums)[32], long l0, int r0, float *restrict y, long y_column) {
      __m256 a[8], b[8], c[8];
      for (int i = 0; i < 8; i++) a[i] = _mm256_loadu_ps(sums[r0 + i] + l0);
      for (int i = 0; i < 8; i += 2) {
        b[i] = _mm256_unpacklo_ps(a[i], a[i + 1]);
        b[i + 1] = _mm256_unpackhi_ps(a[i], a[i + 1]);
      }
      for (int i = 0; i < 8; i += 4) {
        c[i] = _mm256_shuffle_ps(b[i], b[i + 2], 0x44);
        c[i + 1] = _mm256_shuffle_ps(b[i], b[i + 2], 0xEE);
        c[i + 2] = _mm256_shuffle_ps(b[i + 1], b[i + 3], 0x44);
        c[i + 3] = _mm256_shuffle_ps(b[i + 1], b[i + 3], 0xEE);
      }
      for (int j = 0; j < 4; j++) {
        _mm256_storeu_ps(y + r0 + (l0 + j) * y_column, _mm256_permute2f128_ps(c[j], c[j + 4], 0x20));
        _mm256_storeu_ps(y + r0 + (l0 + j + 4) * y_column, _mm256_permute2f128_ps(c[j], c[j + 4], 0x31));
      }
    }
    #endif

    /* The block's sums to y: element (r, l) at y[r·y_row + l·y_column]. Into a convolution's NCHW planes (y_row 1)
       by transposed 8×8 tiles where AVX has the shuffles: element by element, the stores of the stem's 60-position
       blocks took 7% of ResNet-18's stem at batch 1, and 1–3% of its other direct convolutions (paired). */
    static inline void danlu_sums_store(float (*sums)[32], long width, float *restrict y, long y_row, long y_column,
                                        int rows) {
      if (y_column == 1) {
        for (int r = 0; r < rows; r++) memcpy(y + r * y_row, sums[r], sizeof(float) * width);
        return;
      }
      int r0 = 0;
    #ifdef __AVX__
      if (y_row == 1 && width % 8 == 0)
        for (; r0 + 8 <= rows; r0 += 8)
          for (long l0 = 0; l0 < width; l0 += 8) danlu_store_transposed8(sums, l0, r0, y, y_column);
    #endif
      for (long l = 0; l < width; l++)
        for (int r = r0; r < rows; r++) y[r * y_row + l * y_column] = sums[r][l];
    }

    /* A block of rows by one panel, chunk by chunk of k (k0, kn; chunks of CHUNK), as even runs of at most 6 rows
       (10: 5 and 5), each by the whole panel (V = 4 vectors) or by its halves (V = 2, columns c0 = 16h); CALL(R, V)
       accumulates R rows from the run's first row r0 into acc over the columns at `cols` (row stride `width`). Each
       pass over a chunk prefetches its share of the next chunk's lines: the first pass over a chunk otherwise
       waited on L3 (ResNet-18's layer4 panels are larger than a 512 KB L2; perf put the stall on the panel loads),
       and ResNet-18 at batch 1 went 28–51 → 28–44 ms (seven of eight interleaved pairs faster, by 5–16%). */
    #define DANLU_HALVES(CALL, SETUP, CHUNK) \\
      const int runs = (rows + 5) / 6; \\
      for (long k0 = 0; k0 < depth; k0 += CHUNK) { \\
        const long kn = depth - k0 < CHUNK ? depth - k0 : CHUNK; \\
        const long ahead = depth - k0 - kn < CHUNK ? depth - k0 - kn : CHUNK; \\
        const long lines = ahead * width / 16, share = (lines + 2 * runs - 1) / (2 * runs); \\
        const float *next = panel + (k0 + kn) * width; \\
        long fetched = 0; \\
        for (int run = 0; run < runs; run++) { \\
          const int r0 = run * rows / runs, n = (run + 1) * rows / runs - r0, v = n <= 2 ? (int)width / 8 : 2; \\
          SETUP; \\
          for (long c0 = 0; c0 < width; c0 += 8 * v) { \\
            for (long l = 0; l < share && fetched < lines; l++, fetched++) __builtin_prefetch(next + fetched * 16); \\
            danlu_v8f acc[6][4]; \\
            for (int r = 0; r < 6; r++) \\
              for (int j = 0; j < 4; j++) \\
                acc[r][j] = k0 == 0 || r >= n || j >= v ? (danlu_v8f){0} : danlu_load8(sums[r0 + r] + c0 + 8 * j); \\
            const float *cols = panel + k0 * width + c0; \\
            switch (n * 8 + v) { \\
              case 8 + 2: CALL(1, 2); break; case 8 + 4: CALL(1, 4); break; \\
              case 16 + 2: CALL(2, 2); break; case 16 + 4: CALL(2, 4); break; \\
              case 24 + 2: CALL(3, 2); break; \\
              case 32 + 2: CALL(4, 2); break; case 40 + 2: CALL(5, 2); break; default: CALL(6, 2); break; \\
            } \\
            for (int r = 0; r < n; r++) \\
              for (int j = 0; j < v; j++) danlu_store8(sums[r0 + r] + c0 + 8 * j, acc[r][j]); \\
          } \\
        } \\
      }
    /* A block's two runs take k in one chunk: each half's passes over the whole depth stream the panel from L2 with no
       sums to spill and reload. Chunks of 128 here had the encoder layer's GEMMs at 150 GFLOP/s on two cores; in one
       chunk, 180 (the layer 6.2 → 5.5 ms; ResNet-18, whose panels are gathered, unchanged). */
    static void danlu_panel_block(const float *restrict a, long a_row, long a_depth, const float *restrict panel, long width,
                                  long depth, float *restrict y, long y_row, long y_column, int rows) {
      float sums[12][32];
      #define DANLU_BLOCK_HALF(R, V) danlu_half_rows(a + r0 * a_row + k0 * a_depth, a_row, a_depth, cols, width, kn, acc, R, V)
      DANLU_HALVES(DANLU_BLOCK_HALF, (void)0, depth)
      #undef DANLU_BLOCK_HALF
      danlu_sums_store(sums, width, y, y_row, y_column, rows);
    }
    /* Up to DANLU_GATHER_ROWS positions of a direct convolution by filters at once (its 8-float form has no
       danlu_panel_taps: `DirectConvolutionEmitter.byFilters` calls this instead), position r's input at
       a + offsets[r] + taps[k] (positions of several output rows: ResNet-18's rows of 7 and 14 made runs of 3 and 4
       rows), into y (position r, filter l at y[r + l·y_column], or with y_block blocked: y[r·8 + l/8·y_block + l%8]).
       All of them go over each chunk of the panel while it is in L1, so a panel larger than L2 (layer4's: 590 KB)
       comes from L3 once per block of positions. */
    #define DANLU_GATHER_ROWS \(gatherRows)
    static inline __attribute__((always_inline)) void danlu_gather_rows(const float *const *at, const long *restrict taps,
        const float *restrict panel, long stride, long depth, danlu_v8f acc[6][4], const int R, const int V) {
      const float *p[6];
      for (int r = 0; r < 6; r++) p[r] = at[r < R ? r : 0];
      _Pragma("GCC unroll 2")
      for (long k = 0; k < depth; k++) {
        danlu_v8f b[4];
        _Pragma("GCC unroll 4")
        for (int j = 0; j < V; j++) { b[j] = danlu_load8(panel + k * stride + 8 * j); DANLU_IN_REGISTER8(b[j]); }
        const long t = taps[k];
        _Pragma("GCC unroll 6")
        for (int r = 0; r < R; r++) {
          const danlu_v8f x = danlu_splat8(p[r][t]);
          _Pragma("GCC unroll 4")
          for (int j = 0; j < V; j++) acc[r][j] = danlu_fma8(x, b[j], acc[r][j]);
        }
      }
    }
    static void danlu_panel_gather(const float *restrict a, const long *restrict offsets, const long *restrict taps,
                                   const float *restrict panel, long width, long depth, float *restrict y, long y_column,
                                   long y_block, int rows) {
      float sums[DANLU_GATHER_ROWS][32];
      const float *at[6];
      #define DANLU_GATHER_SETUP for (int r = 0; r < 6; r++) at[r] = a + offsets[r0 + (r < n ? r : 0)]
      #define DANLU_GATHER_HALF(R, V) danlu_gather_rows(at, taps + k0, cols, width, kn, acc, R, V)
      DANLU_HALVES(DANLU_GATHER_HALF, DANLU_GATHER_SETUP, DANLU_HALF_DEPTH)
      #undef DANLU_GATHER_HALF
      #undef DANLU_GATHER_SETUP
      if (y_block) danlu_sums_store_blocked(sums, width, y, y_block, rows);
      else danlu_sums_store(sums, width, y, 1, y_column, rows);
    }

    /* One row by one panel: two partial sums over k (8 accumulators for a 32-wide panel). */
    static void danlu_panel_vector(const float *restrict a, const float *restrict panel, long width, long depth,
                                   float *restrict y) {
      danlu_v8f acc[2][4];
      for (int u = 0; u < 2; u++)
        for (int j = 0; j < 4; j++) acc[u][j] = (danlu_v8f){0};
      const long v = width / 8;
      long k = 0;
      for (; k + 2 <= depth; k += 2) {
        #pragma GCC unroll 2
        for (int u = 0; u < 2; u++) {
          const danlu_v8f x = danlu_splat8(a[k + u]);
          #pragma GCC unroll 4
          for (int j = 0; j < 4; j++)
            if (j < v) acc[u][j] = danlu_fma8(x, danlu_load8(panel + (k + u) * width + 8 * j), acc[u][j]);
        }
      }
      for (; k < depth; k++) {
        const danlu_v8f x = danlu_splat8(a[k]);
        for (int j = 0; j < 4; j++)
          if (j < v) acc[0][j] = danlu_fma8(x, danlu_load8(panel + k * width + 8 * j), acc[0][j]);
      }
      for (long j = 0; j < v; j++) danlu_store8(y + 8 * j, acc[0][j] + acc[1][j]);
    }
    #endif


    """
}
