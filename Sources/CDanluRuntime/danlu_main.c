#define _POSIX_C_SOURCE 200809L  /* fileno, fsync, clock_gettime under -std=c11 */
/* The standalone binary: load weights and inputs, run, write outputs, optionally time repeated runs. */
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include "danlu_util.h"

/* Defined by a CUDA build only (weak here, so a CPU binary links without it): the last run's time on the GPU between
 * CUDA events around its kernels, without the input and output copies, as PyTorch's CUDA-event timings are taken.
 * --bench reports it in place of the host's clock. */
extern double danlu_device_ms(void) __attribute__((weak));

static void usage(const char *program) {
  fprintf(stderr,
          "usage: %s [--weights W.safetensors] --input [NAME=]x.npy ... [--output [NAME=]y.npy ...] [--print] [--bench K]"
          " [--threads N]\n"
          "  Without --weights, %s.safetensors beside the binary is used.\n"
          "  --print shows each output's leading values and, for (N, classes) outputs, the arg-max of each row.\n",
          program, program);
}

/* Splits "name=path" (or a bare path, matched by position). */
static const char *split_binding(const char *arg, char *name, size_t len) {
  const char *eq = strchr(arg, '=');
  if (!eq || (size_t)(eq - arg) >= len) { name[0] = 0; return arg; }
  memcpy(name, arg, (size_t)(eq - arg));
  name[eq - arg] = 0;
  return eq + 1;
}

static int find(const danlu_tensor_info *infos, int count, const char *name) {
  for (int i = 0; i < count; i++) if (strcmp(infos[i].name, name) == 0) return i;
  return -1;
}

static void print_output(const danlu_tensor_info *info, const float *data) {
  int64_t count = danlu_element_count(info->rank, info->shape);
  printf("%s [", info->name);
  for (int d = 0; d < info->rank; d++) printf("%s%lld", d ? ", " : "", (long long)info->shape[d]);
  printf("]:");
  for (int64_t i = 0; i < count && i < 8; i++) printf(" %.5g", data[i]);
  printf("%s\n", count > 8 ? " ..." : "");
  if (info->rank == 2) {
    printf("%s argmax:", info->name);
    for (int64_t r = 0; r < info->shape[0]; r++) {
      int64_t best = 0;
      for (int64_t c = 1; c < info->shape[1]; c++) if (data[r * info->shape[1] + c] > data[r * info->shape[1] + best]) best = c;
      printf(" %lld", (long long)best);
    }
    printf("\n");
  }
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int danlu_standalone_main(const danlu_model *m, int argc, char **argv) {
  char err[8192];
#ifdef __linux__
  /* OpenBLAS chose its kernels before main; when it fell back to slow ones, start again with the right ones. */
  if (danlu_prefer_blas_core()) execv("/proc/self/exe", argv);
#endif
  const char *weights_path = NULL;
  const char *input_paths[64] = {0}, *output_paths[64] = {0};
  int bench = 0, next_input = 0, show = 0;
  if (m->default_threads > 0) m->set_threads(m->default_threads);
  if (m->abi_version != DANLU_ABI_VERSION) { fprintf(stderr, "error: ABI version mismatch\n"); return 1; }
  if (m->num_inputs > 64 || m->num_outputs > 64) { fprintf(stderr, "error: too many inputs or outputs\n"); return 1; }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(argv[0]); return 0; }
    if (!strcmp(a, "--print")) { show = 1; continue; }
    if (i + 1 >= argc) { fprintf(stderr, "error: %s needs a value\n", a); usage(argv[0]); return 1; }
    const char *value = argv[++i];
    char name[256];
    if (!strcmp(a, "--weights")) {
      weights_path = value;
    } else if (!strcmp(a, "--threads")) {
      int threads = atoi(value);
      if (threads <= 0) { fprintf(stderr, "error: --threads needs a positive count\n"); return 1; }
      m->set_threads(threads);
    } else if (!strcmp(a, "--bench")) {
      bench = atoi(value);
      if (bench <= 0) { fprintf(stderr, "error: --bench needs a positive count\n"); return 1; }
    } else if (!strcmp(a, "--input") || !strcmp(a, "--output")) {
      int is_input = a[2] == 'i';
      const char *path = split_binding(value, name, sizeof name);
      const danlu_tensor_info *infos = is_input ? m->inputs : m->outputs;
      int count = is_input ? m->num_inputs : m->num_outputs;
      int index = name[0] ? find(infos, count, name) : (is_input ? next_input++ : 0);
      if (index < 0 || index >= count) {
        fprintf(stderr, "error: model '%s' has no %s '%s'; it has:", m->name, is_input ? "input" : "output",
                name[0] ? name : "(more)");
        for (int k = 0; k < count; k++) fprintf(stderr, " %s", infos[k].name);
        fprintf(stderr, "\n");
        return 1;
      }
      (is_input ? input_paths : output_paths)[index] = path;
    } else {
      fprintf(stderr, "error: unknown option '%s'\n", a);
      usage(argv[0]);
      return 1;
    }
  }

  char default_weights[4096];
  if (!weights_path) {
    snprintf(default_weights, sizeof default_weights, "%s.safetensors", argv[0]);
    weights_path = default_weights;
  }
  danlu_tensor_set weights;
  if (danlu_safetensors_read(weights_path, &weights, err, sizeof err)) { fprintf(stderr, "error: %s\n", err); return 1; }
  const float **params = calloc((size_t)m->num_params + 1, sizeof *params);
  if (danlu_bind_weights(m, &weights, params, err, sizeof err)) { fprintf(stderr, "error: %s: %s\n", weights_path, err); return 1; }

  danlu_tensor inputs[64];
  const float *input_data[64];
  for (int i = 0; i < m->num_inputs; i++) {
    if (!input_paths[i]) { fprintf(stderr, "error: missing --input for '%s'\n", m->inputs[i].name); return 1; }
    if (danlu_npy_read(input_paths[i], &inputs[i], err, sizeof err)) { fprintf(stderr, "error: %s\n", err); return 1; }
    const danlu_tensor_info *info = &m->inputs[i];
    int same = inputs[i].rank == info->rank;
    for (int d = 0; same && d < info->rank; d++) same = inputs[i].shape[d] == info->shape[d];
    if (!same) {
      fprintf(stderr, "error: %s: input '%s' must have shape [", input_paths[i], info->name);
      for (int d = 0; d < info->rank; d++) fprintf(stderr, "%s%lld", d ? ", " : "", (long long)info->shape[d]);
      fprintf(stderr, "] but the file holds [");
      for (int d = 0; d < inputs[i].rank; d++) fprintf(stderr, "%s%lld", d ? ", " : "", (long long)inputs[i].shape[d]);
      fprintf(stderr, "]\n");
      return 1;
    }
    input_data[i] = inputs[i].data;
  }

  float *outputs[64];
  for (int i = 0; i < m->num_outputs; i++) {
    int64_t count = danlu_element_count(m->outputs[i].rank, m->outputs[i].shape);
    outputs[i] = malloc((size_t)(count > 0 ? count : 1) * sizeof(float));
  }
  float *arena = aligned_alloc(64, (size_t)((m->arena_floats * 4 + 63) / 64 * 64 + 64));
  if (!arena) { fprintf(stderr, "error: cannot allocate the %lld-byte arena\n", (long long)m->arena_floats * 4); return 1; }

  m->prepare(params, arena);
  m->forward(params, input_data, outputs, arena);
  if (bench > 0) {
    /* Warm up on time, not a count: clocks ramp and BLAS threads wake within ~100 ms. */
    double warm_start = danlu_now_ms();
    for (int i = 0; i < 3 || (danlu_now_ms() - warm_start < 100 && i < 10000); i++) m->forward(params, input_data, outputs, arena);
    double *times = malloc(sizeof(double) * (size_t)bench);
    if (danlu_device_ms) fprintf(stderr, "bench: GPU time between CUDA events around the kernels (copies excluded)\n");
    for (int i = 0; i < bench; i++) {
      double start = danlu_now_ms();
      m->forward(params, input_data, outputs, arena);
      times[i] = danlu_device_ms ? danlu_device_ms() : danlu_now_ms() - start;
    }
    qsort(times, (size_t)bench, sizeof(double), compare);
    double median = bench % 2 ? times[bench / 2] : (times[bench / 2 - 1] + times[bench / 2]) / 2;
    printf("bench: median_ms=%.4f min_ms=%.4f max_ms=%.4f runs=%d\n", median, times[0], times[bench - 1], bench);
    free(times);
  }
  for (int i = 0; i < m->num_outputs; i++) {
    if (!output_paths[i]) continue;
    if (danlu_npy_write(output_paths[i], outputs[i], m->outputs[i].rank, m->outputs[i].shape, err, sizeof err)) {
      fprintf(stderr, "error: %s\n", err);
      return 1;
    }
  }
  for (int i = 0; show && i < m->num_outputs; i++) print_output(&m->outputs[i], outputs[i]);
  for (int i = 0; i < m->num_outputs; i++) free(outputs[i]);
  for (int i = 0; i < m->num_inputs; i++) danlu_tensor_free(&inputs[i]);
  free(arena);
  free(params);
  danlu_tensor_set_free(&weights);
  return 0;
}
