/* The Danlu C runtime: the only contract between generated code and its hosts (the standalone binary's main
 * and the Swift runtime, which dlopens generated shared objects). */
#ifndef DANLU_RUNTIME_H
#define DANLU_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DANLU_ABI_VERSION 3
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
typedef struct {
  danlu_optimizer_kind kind;
  float lr, weight_decay;
  float momentum; int nesterov;      /* SGD */
  float beta1, beta2, eps;           /* Adam, AdamW */
} danlu_optimizer;
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

/* The standalone binary's command line: OUT --weights W --input [name=]x.npy --output [name=]y.npy [--bench K]. */
int danlu_standalone_main(const danlu_model *model, int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
