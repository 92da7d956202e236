/// C helpers on 16 floats at a time through GCC's vector extensions, for the activations libm would compute one call
/// per element (expf, tanhf): the attention softmax and the recurrent gates. The compiler maps `danlu_v16f` onto
/// one AVX-512 register, two AVX2 ones, or four SSE ones.
enum VectorMath {
  /// e^x as 2^n · p(r), r = x − n·ln 2, with a degree-7 polynomial: within 2e-7 relative on [-87, 88]; 0 below −87
  /// (e^−87 is under float's normal range, and a masked score's −∞ gives 0 as it should), e^88 above 88.
  static let helpers = """
    /* Static helpers only: how a 64-byte vector is passed without AVX-512 concerns no other object file. */
    #pragma GCC diagnostic ignored "-Wpsabi"
    typedef float danlu_v16f __attribute__((vector_size(64)));
    typedef int danlu_v16i __attribute__((vector_size(64)));

    /* Keeps a vector in a register where gcc would rather fold its load into every use. */
    #ifdef __AVX512F__
    #define DANLU_IN_REGISTER(v) __asm__("" : "+v"(v))
    #else
    #define DANLU_IN_REGISTER(v) ((void)0)
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

    static inline danlu_v16f danlu_load16(const float *p) { danlu_v16f v; memcpy(&v, p, sizeof v); return v; }
    /* x in every lane: one broadcast (`zero + x` is a scalar add, since -0 + 0 is +0, and then a broadcast). */
    static inline danlu_v16f danlu_splat16(float x) { return (danlu_v16f){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
    static inline void danlu_store16(float *p, danlu_v16f v) { memcpy(p, &v, sizeof v); }
    static inline danlu_v16f danlu_select16(danlu_v16i mask, danlu_v16f yes, danlu_v16f no) {
      return (danlu_v16f)((mask & (danlu_v16i)yes) | (~mask & (danlu_v16i)no));
    }

    static inline danlu_v16f danlu_exp16(danlu_v16f x) {
      const danlu_v16f zero = {0}, low = zero - 87.0f, high = zero + 88.0f;
      const danlu_v16i below = x < low;
      x = danlu_select16(below, low, danlu_select16(x > high, high, x));
      const danlu_v16f zero_ = {0};
      #define DANLU_C(v) (zero_ + (v))
      const danlu_v16f n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
      const danlu_v16f r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
      danlu_v16f p = danlu_fma16(r, DANLU_C(1.0f / 5040.0f), DANLU_C(1.0f / 720.0f));
      p = danlu_fma16(p, r, DANLU_C(1.0f / 120.0f)); p = danlu_fma16(p, r, DANLU_C(1.0f / 24.0f));
      p = danlu_fma16(p, r, DANLU_C(1.0f / 6.0f)); p = danlu_fma16(p, r, DANLU_C(0.5f));
      p = danlu_fma16(p, r, DANLU_C(1.0f)); p = danlu_fma16(p, r, DANLU_C(1.0f));
      #undef DANLU_C
      const danlu_v16i bits = (__builtin_convertvector(n, danlu_v16i) + 127) << 23;
      return danlu_select16(below, zero, p * (danlu_v16f)bits);
    }
    static inline danlu_v16f danlu_sigmoid16(danlu_v16f x) { return 1.0f / (1.0f + danlu_exp16(-x)); }
    static inline danlu_v16f danlu_tanh16(danlu_v16f x) { return 2.0f / (1.0f + danlu_exp16(-2.0f * x)) - 1.0f; }

    /* row[j] = exp(row[j] - peak) for j < n; returns their sum. */
    static inline float danlu_exp_sum(float *row, long n, float peak) {
      danlu_v16f total = {0};
      long j = 0;
      for (; j + 16 <= n; j += 16) {
        const danlu_v16f v = danlu_exp16(danlu_load16(row + j) - peak);
        danlu_store16(row + j, v);
        total += v;
      }
      float sum = 0.0f;
      for (int l = 0; l < 16; l++) sum += total[l];
      if (j < n) {
        danlu_v16f v = {0};
        for (long i = j; i < n; i++) v[i - j] = row[i] - peak;
        v = danlu_exp16(v);
        for (long i = j; i < n; i++) { row[i] = v[i - j]; sum += v[i - j]; }
      }
      return sum;
    }


    """
}
