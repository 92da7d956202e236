/* The Danlu C runtime: the only contract between generated code and its hosts (the standalone binary's main
 * and the Swift runtime, which dlopens generated shared objects). */
#ifndef DANLU_RUNTIME_H
#define DANLU_RUNTIME_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DANLU_ABI_VERSION 4
#define DANLU_MAX_RANK 8

/* ==== What generated code exports ==== */

typedef struct {
  const char *name;
  int rank;
  const int64_t *shape;
} danlu_tensor_info;

/* Runs the model: params in `params` order, inputs and outputs in declaration order, arena of arena_floats. */
typedef void (*danlu_forward_fn)(const float *const *params, const float *const *inputs, float *const *outputs,
                                 float *arena);

struct danlu_optimizer_settings;

/* Computes what depends only on the weights (folded batch norm, …) into the arena; call after binding weights and
 * before the first forward, and again whenever the weights change. */
typedef void (*danlu_prepare_fn)(const float *const *params, float *arena);
typedef struct {
  int abi_version;
  const char *name;
  int num_params;
  const danlu_tensor_info *params;
  int num_inputs;
  const danlu_tensor_info *inputs;
  int num_outputs;
  const danlu_tensor_info *outputs;
  int64_t arena_floats;
  danlu_prepare_fn prepare;
  danlu_forward_fn forward;
  /* Sets the BLAS thread count (and any generated parallel loops'). */
  void (*set_threads)(int threads);
  /* One entry per kernel, in execution order: its layer path and FLOPs per run. */
  int num_kernels;
  const char *const *kernel_names;
  const int64_t *kernel_flops;
  /* Milliseconds spent in each kernel, accumulated over runs; NULL unless built with -DDANLU_PROFILE. */
  double *profile_ms;
  /* Threads set before the first run unless --threads says otherwise (0: the BLAS library's default). */
  int default_threads;
  /* Train steps only (NULL otherwise), called after forward while the arena holds its results: the sum of squares of
   * every gradient (for clipping), and the optimizer update of every trainable parameter from its gradient in the
   * arena, with batch-norm running statistics copied over their buffers. forward then needs no output buffer for
   * gradients and statistics (pass NULL). m and v are per parameter, like params. */
  double (*grad_sum_squares)(const float *arena);
  void (*apply_update)(float *const *params, float *const *m, float *const *v, const struct danlu_optimizer_settings *o,
                       int64_t step, float grad_scale, const float *arena);
} danlu_model;

/* ==== Tensors in files ==== */

typedef enum { DANLU_F32 = 0, DANLU_F64, DANLU_F16, DANLU_BF16, DANLU_I64, DANLU_I32, DANLU_I16, DANLU_I8, DANLU_U8,
               DANLU_BOOL } danlu_dtype;

typedef struct {
  char *name;
  danlu_dtype dtype;
  int rank;
  int64_t shape[DANLU_MAX_RANK];
  void *data;     /* points into the owning set's buffer, or owned when read from .npy */
  size_t nbytes;
} danlu_tensor;

typedef struct {
  int count;
  danlu_tensor *tensors;
  void *buffer;
} danlu_tensor_set;

/* Every function returns 0 on success; otherwise it writes a one-line reason into err (errlen bytes). */
int danlu_npy_read(const char *path, danlu_tensor *out, char *err, size_t errlen);
int danlu_npy_write(const char *path, const float *data, int rank, const int64_t *shape, char *err, size_t errlen);
void danlu_tensor_free(danlu_tensor *t);

int danlu_safetensors_read(const char *path, danlu_tensor_set *out, char *err, size_t errlen);
/* Parses an in-memory file (the reader's core; fuzzing and tests use it directly). Takes ownership of bytes. */
int danlu_safetensors_parse(void *bytes, size_t size, danlu_tensor_set *out, char *err, size_t errlen);
/* Writes atomically: a temporary file beside `path`, flushed, then renamed over it. */
int danlu_safetensors_write(const char *path, const danlu_tensor *tensors, int count, char *err, size_t errlen);
void danlu_tensor_set_free(danlu_tensor_set *set);

/* Matches a weights file to a model's parameters by name; lists every missing, unexpected (PyTorch's
 * num_batches_tracked excepted) and wrongly shaped or typed tensor in err. */
int danlu_bind_weights(const danlu_model *model, const danlu_tensor_set *weights, const float **params, char *err,
                       size_t errlen);

double danlu_now_ms(void);

/* ==== Training ==== */
typedef enum { DANLU_SGD = 0, DANLU_ADAM, DANLU_ADAMW } danlu_optimizer_kind;
typedef struct danlu_optimizer_settings {
  danlu_optimizer_kind kind;
  float lr, weight_decay;
  float momentum; int nesterov;      /* SGD */
  float beta1, beta2, eps;           /* Adam, AdamW */
} danlu_optimizer;

/* The threads a generated kernel may use: those set_threads gave (`set` > 0), else the cores online, asked of the
 * system once per object file (glibc reads /sys for the count on every sysconf call, ~5 µs: more than a small
 * kernel's work). */
static inline __attribute__((unused)) long danlu_threads_available(int set) {
  static long online = 0;
  if (set > 0) return set;
  if (online == 0) online = sysconf(_SC_NPROCESSORS_ONLN);
  return online;
}

/* The update loops, inline so that generated train steps compile them with their own flags (-O3 -march=native:
 * AVX-512 where the machine has it) on gradients still in cache; danlu_optimizer_step wraps the same code. One
 * branch-free loop over restrict pointers each, so that the compiler vectorizes it (square roots and divisions too,
 * given -fno-math-errno). Not inlined: gcc 12 loses the restrict guarantees once the loop is inlined into its caller
 * and leaves it scalar (1.58 ms instead of 0.34 for 535k parameters, measured). */
static __attribute__((noinline, unused)) void danlu_adam_loop(float *restrict param, const float *restrict grad, float *restrict m,
                                                       float *restrict v, int64_t n, float l2, float decay, float beta1,
                                                       float beta2, float step_size, float root_c2, float eps,
                                                       float grad_scale) {
  for (int64_t i = 0; i < n; i++) {
    const float g = grad[i] * grad_scale + l2 * param[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * g, vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i] * decay - step_size * mi / (sqrtf(vi) / root_c2 + eps);
  }
}

static inline void danlu_optimizer_apply(const danlu_optimizer *o, float *param, const float *grad, float *m, float *v,
                                         int64_t n, int64_t step, float grad_scale) {
  const float lr = o->lr, wd = o->weight_decay;
  switch (o->kind) {
  case DANLU_SGD:
    for (int64_t i = 0; i < n; i++) {
      float g = grad[i] * grad_scale + wd * param[i];
      if (o->momentum != 0.0f) {
        m[i] = step == 1 ? g : o->momentum * m[i] + g;  /* PyTorch's buffer starts at the first gradient */
        g = o->nesterov ? g + o->momentum * m[i] : m[i];
      }
      param[i] -= lr * g;
    }
    break;
  case DANLU_ADAM:
  case DANLU_ADAMW: {
    const double c1 = 1.0 - pow(o->beta1, (double)step), c2 = 1.0 - pow(o->beta2, (double)step);
    /* Adam adds the weight decay to the gradient (L2); AdamW shrinks the parameter instead (decoupled). */
    const int decoupled = o->kind == DANLU_ADAMW;
    danlu_adam_loop(param, grad, m, v, n, decoupled ? 0.0f : wd, decoupled ? 1.0f - lr * wd : 1.0f, o->beta1, o->beta2,
                    (float)(lr / c1), (float)sqrt(c2), o->eps, grad_scale);
    break;
  }
  }
}
/* One update of `n` parameters from their gradient times grad_scale (1, or the clipping factor). m holds SGD's
 * momentum buffer or Adam's first moment, v Adam's second; step counts from 1. */
void danlu_optimizer_step(const danlu_optimizer *o, float *param, const float *grad, float *m, float *v, int64_t n,
                          int64_t step, float grad_scale);
double danlu_sum_squares(const float *x, int64_t n);

/* OpenBLAS's kernels (danlu_blas.c): the core these CPU features call for ("SkylakeX", "Haswell"), or NULL. */
const char *danlu_blas_core_hint(void);
/* Sets OPENBLAS_CORETYPE to the hint unless the user set it, or OpenBLAS (when already loaded) chose well by itself.
 * Returns 1 when it set it: the library must be loaded after this to take it. */
int danlu_prefer_blas_core(void);

/* Sets OPENBLAS_THREAD_TIMEOUT=10 unless the user set it (see danlu_blas.c), for models whose kernels run their own
 * threads; returns 1 when it set it, and OpenBLAS must be loaded after this to take it. */
int danlu_quiet_blas_workers(void);
/* The same for OpenBLAS, and GOMP_SPINCOUNT=30000 unless the user set an OpenMP wait policy or spin count: for models
 * whose threaded work is short OpenMP regions (CEmitter.spinsBetweenRegions). Returns 1 when it set anything. */
int danlu_spin_omp_workers(void);

/* The standalone binary's command line: OUT --weights W --input [name=]x.npy --output [name=]y.npy [--bench K]. */
int danlu_standalone_main(const danlu_model *model, int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
