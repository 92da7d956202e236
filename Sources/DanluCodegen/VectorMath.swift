/// C helpers on 16 floats at a time through GCC's vector extensions, for the activations libm would compute one call
/// per element (expf, tanhf): the attention softmax and the recurrent gates. The compiler maps `danlu_v16f` onto
/// one AVX-512 register; without AVX-512 it has no register for it and keeps every such value in memory, lowering
/// each operation to halves loaded from and stored to the stack. Straight-line code survives that, but a loop that
/// carries `danlu_v16f` accumulators ran 30× slower on an AVX2 machine (the LSTM's steps: 80 ms against ORT's 8), so
/// the kernels' register tiles are written in `danlu_v8f` there: `DANLU_REGISTER_FLOATS` (16 with AVX-512, else 8;
/// predefined by tests, which compile both) picks the tile.
enum VectorMath {
  /// e^x as 2^n · p(r), r = x − n·ln 2, with a degree-7 polynomial: within 2e-7 relative on [-87, 88]; 0 below −87
  /// (e^−87 is under float's normal range, and a masked score's −∞ gives 0 as it should), e^88 above 88.
  static let helpers = """
    /* Static helpers only: how a 64-byte vector is passed without AVX-512 concerns no other object file. */
    #pragma GCC diagnostic ignored "-Wpsabi"
    typedef float danlu_v16f __attribute__((vector_size(64)));
    typedef int danlu_v16i __attribute__((vector_size(64)));
    typedef float danlu_v8f __attribute__((vector_size(32)));
    typedef int danlu_v8i __attribute__((vector_size(32)));
    #ifndef DANLU_REGISTER_FLOATS
    #ifdef __AVX512F__
    #define DANLU_REGISTER_FLOATS 16
    #else
    #define DANLU_REGISTER_FLOATS 8
    #endif
    #endif

    /* Keeps a vector in a register where gcc would rather fold its load into every use. */
    #ifdef __AVX512F__
    #define DANLU_IN_REGISTER(v) __asm__("" : "+v"(v))
    #else
    #define DANLU_IN_REGISTER(v) ((void)0)
    #endif
    #if defined(__x86_64__)
    #define DANLU_IN_REGISTER8(v) __asm__("" : "+x"(v))
    #else
    #define DANLU_IN_REGISTER8(v) ((void)0)
    #endif

    /* c + a·b as fused multiply-adds where the CPU has them (-std=c11 keeps a·b + c as two roundings, and half the
       arithmetic rate, unless told): only where written, so every other loop keeps its rounding. */
    #if defined(__AVX512F__)
    #include <immintrin.h>
    static inline danlu_v16f danlu_fma16(danlu_v16f a, danlu_v16f b, danlu_v16f c) {
      return (danlu_v16f)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
    }
    #elif defined(__FMA__)
    #include <immintrin.h>
    static inline danlu_v16f danlu_fma16(danlu_v16f a, danlu_v16f b, danlu_v16f c) {
      __m256 lo, hi, a0, a1, b0, b1, c0, c1;
      memcpy(&a0, &a, 32); memcpy(&a1, (char *)&a + 32, 32);
      memcpy(&b0, &b, 32); memcpy(&b1, (char *)&b + 32, 32);
      memcpy(&c0, &c, 32); memcpy(&c1, (char *)&c + 32, 32);
      lo = _mm256_fmadd_ps(a0, b0, c0);
      hi = _mm256_fmadd_ps(a1, b1, c1);
      danlu_v16f out;
      memcpy(&out, &lo, 32); memcpy((char *)&out + 32, &hi, 32);
      return out;
    }
    #else
    static inline danlu_v16f danlu_fma16(danlu_v16f a, danlu_v16f b, danlu_v16f c) { return a * b + c; }
    #endif

    #if defined(__FMA__)
    static inline danlu_v8f danlu_fma8(danlu_v8f a, danlu_v8f b, danlu_v8f c) {
      return (danlu_v8f)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
    }
    #else
    static inline danlu_v8f danlu_fma8(danlu_v8f a, danlu_v8f b, danlu_v8f c) { return a * b + c; }
    #endif
    static inline danlu_v8f danlu_load8(const float *p) { danlu_v8f v; memcpy(&v, p, sizeof v); return v; }
    static inline danlu_v8f danlu_splat8(float x) { return (danlu_v8f){x, x, x, x, x, x, x, x}; }
    static inline void danlu_store8(float *p, danlu_v8f v) { memcpy(p, &v, sizeof v); }

    static inline danlu_v16f danlu_load16(const float *p) { danlu_v16f v; memcpy(&v, p, sizeof v); return v; }
    /* x in every lane: one broadcast (`zero + x` is a scalar add, since -0 + 0 is +0, and then a broadcast). */
    static inline danlu_v16f danlu_splat16(float x) { return (danlu_v16f){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
    static inline void danlu_store16(float *p, danlu_v16f v) { memcpy(p, &v, sizeof v); }
    \(functions(16))\(functions(8))
    /* row[j] = exp(row[j] - peak) for j < n; returns their sum. A register's width at a time: a danlu_v16f total
       without AVX-512 lived on the stack (the encoder layer's attention softmax). */
    #if DANLU_REGISTER_FLOATS == 16
    \(expSum(16))#else
    \(expSum(8))#endif

    """

  /// select, e^x, the sigmoid and tanh on `lanes` (16 or 8) floats: the 8-lane ones for the register tiles of
  /// machines without AVX-512 (`DANLU_REGISTER_FLOATS`), where the 16-lane ones would run from the stack.
  static func functions(_ lanes: Int) -> String {
    let (f, i) = ("danlu_v\(lanes)f", "danlu_v\(lanes)i")
    return """
      static inline \(f) danlu_select\(lanes)(\(i) mask, \(f) yes, \(f) no) {
        return (\(f))((mask & (\(i))yes) | (~mask & (\(i))no));
      }
      static inline \(f) danlu_exp\(lanes)(\(f) x) {
        const \(f) zero = {0}, low = zero - 87.0f, high = zero + 88.0f;
        const \(i) below = x < low;
        x = danlu_select\(lanes)(below, low, danlu_select\(lanes)(x > high, high, x));
        const \(f) zero_ = {0};
        #define DANLU_C(v) (zero_ + (v))
        const \(f) n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
        const \(f) r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
        \(f) p = danlu_fma\(lanes)(r, DANLU_C(1.0f / 5040.0f), DANLU_C(1.0f / 720.0f));
        p = danlu_fma\(lanes)(p, r, DANLU_C(1.0f / 120.0f)); p = danlu_fma\(lanes)(p, r, DANLU_C(1.0f / 24.0f));
        p = danlu_fma\(lanes)(p, r, DANLU_C(1.0f / 6.0f)); p = danlu_fma\(lanes)(p, r, DANLU_C(0.5f));
        p = danlu_fma\(lanes)(p, r, DANLU_C(1.0f)); p = danlu_fma\(lanes)(p, r, DANLU_C(1.0f));
        #undef DANLU_C
        const \(i) bits = (__builtin_convertvector(n, \(i)) + 127) << 23;
        return danlu_select\(lanes)(below, zero, p * (\(f))bits);
      }
      static inline \(f) danlu_sigmoid\(lanes)(\(f) x) { return 1.0f / (1.0f + danlu_exp\(lanes)(-x)); }
      static inline \(f) danlu_tanh\(lanes)(\(f) x) { return 2.0f / (1.0f + danlu_exp\(lanes)(-2.0f * x)) - 1.0f; }

      """
  }

  /// `danlu_exp_sum` in `lanes`-wide vectors.
  static func expSum(_ lanes: Int) -> String {
    let v = "danlu_v\(lanes)f"
    return """
      static inline float danlu_exp_sum(float *row, long n, float peak) {
        \(v) total = {0};
        long j = 0;
        for (; j + \(lanes) <= n; j += \(lanes)) {
          const \(v) v = danlu_exp\(lanes)(danlu_load\(lanes)(row + j) - peak);
          danlu_store\(lanes)(row + j, v);
          total += v;
        }
        float sum = 0.0f;
        for (int l = 0; l < \(lanes); l++) sum += total[l];
        if (j < n) {
          \(v) v = {0};
          for (long i = j; i < n; i++) v[i - j] = row[i] - peak;
          v = danlu_exp\(lanes)(v);
          for (long i = j; i < n; i++) { row[i] = v[i - j]; sum += v[i - j]; }
        }
        return sum;
      }

      """
  }
}
