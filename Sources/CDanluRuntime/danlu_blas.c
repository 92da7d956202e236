/* Choosing OpenBLAS's kernels. OpenBLAS (DYNAMIC_ARCH builds, as Debian's) picks them from the CPU's model number;
 * a CPU newer than the library falls back to ancient ones: OpenBLAS 0.3.21 takes an Emerald Rapids Xeon (family 6,
 * model 207) for a Prescott and runs sgemm at 70 GFLOP/s instead of 290 with its SkylakeX kernels on the same two
 * cores (Benchmarks/RESULTS.md). OpenBLAS reads OPENBLAS_CORETYPE once, when it is loaded; Danlu sets it from the
 * CPU's feature flags when the user has not, before the library is loaded (in-process) or by restarting itself once
 * (the standalone binary, where the library is loaded before main). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "danlu_runtime.h"

/* Present only where OpenBLAS is linked in (the standalone binary); weak, so the Swift runtime needs no BLAS. */
extern char *openblas_get_corename(void) __attribute__((weak));

const char *danlu_blas_core_hint(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return NULL;
}

/* The cores OpenBLAS falls back to for a model it does not know; on a CPU with AVX2 they leave most of it unused. */
static int is_fallback(const char *core) {
  static const char *const fallbacks[] = {"prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai",
                                          "coppermine", "northwood", "banias", "unknown"};
  for (size_t i = 0; i < sizeof fallbacks / sizeof *fallbacks; i++)
    if (strcasecmp(core, fallbacks[i]) == 0) return 1;
  return 0;
}

int danlu_prefer_blas_core(void) {
  if (getenv("OPENBLAS_CORETYPE")) return 0;
  const char *core = danlu_blas_core_hint();
  if (!core) return 0;
  if (openblas_get_corename) {
    const char *chosen = openblas_get_corename();
    if (!chosen || !is_fallback(chosen)) return 0;
  }
  return setenv("OPENBLAS_CORETYPE", core, 1) == 0;
}

/* OpenBLAS's idle workers spin for 2^28 cycles (about 0.1 s) after each call before they sleep. A kernel that runs
 * threads of its own (the fused recurrent step, `danlu_barrier_wait`) then shares the second core with a spinning
 * worker and waits a scheduler slice at its barriers: lstm.yaml ran 3.1 ms (median; up to 11) against 2.3 ms with
 * OPENBLAS_THREAD_TIMEOUT=10, which lets the workers sleep after ~1 µs. Models of GEMMs alone lose ~5% to the
 * wake-ups, so the timeout is set only for models with such kernels, and never over the user's own. */
int danlu_quiet_blas_workers(void) {
  int changed = 0;
  if (!getenv("OPENBLAS_THREAD_TIMEOUT")) changed |= setenv("OPENBLAS_THREAD_TIMEOUT", "10", 1) == 0;
  /* The same holds for OpenMP's pool after each parallel region (libgomp spins for a while by default): on ResNet-18
     at batch 1 the GEMM after a two-thread Winograd region ran at 4 GFLOP/s against a spinning OpenMP thread. */
  if (!getenv("OMP_WAIT_POLICY")) changed |= setenv("OMP_WAIT_POLICY", "PASSIVE", 1) == 0;
  return changed;
}

/* For models whose threaded work is OpenMP regions (`CEmitter.spinsBetweenRegions`): waking a passively waiting
 * OpenMP thread costs ~50 µs here, and ResNet-18 at batch 1 opens ~20 regions a run (11.9–12.4 ms passive against
 * 10.6–10.8 spinning). libgomp's idle thread spins 30000 rounds (~0.8 ms here) after a region instead: enough to
 * bridge the kernels between two regions, short enough that an OpenBLAS call after the last one meets it only
 * briefly. OpenBLAS's own workers still sleep at once. Never over the user's own settings. */
int danlu_spin_omp_workers(void) {
  int changed = 0;
  if (!getenv("OPENBLAS_THREAD_TIMEOUT")) changed |= setenv("OPENBLAS_THREAD_TIMEOUT", "10", 1) == 0;
  if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) changed |= setenv("GOMP_SPINCOUNT", "30000", 1) == 0;
  return changed;
}

