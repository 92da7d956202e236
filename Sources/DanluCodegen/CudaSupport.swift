/// The files a CUDA folder holds besides the generated model: `danlu_cuda.h` (checked CUDA and cuBLAS calls, the
/// launch macro, the row-major GEMM) and the Makefile.
public enum CudaSupport {
  /// The header every generated `model.cu` includes. With `-DDANLU_CUDA_EMULATE` the same source builds as C++ on a
  /// machine without a GPU: a kernel runs as a loop over its threads and cuBLAS as OpenBLAS, which is how Danlu's own
  /// tests check the generated kernels against its interpreter. Kernels use no shared memory or synchronization
  /// between threads, so that loop is a faithful model of them.
  public static let header = #"""
    /* Danlu's CUDA glue. Generated; do not edit. */
    #ifndef DANLU_CUDA_H
    #define DANLU_CUDA_H
    #include <math.h>
    #include <stdio.h>
    #include <stdlib.h>
    #include <string.h>
    /* The C runtime's header uses C99's restrict, which C++ (and so nvcc) spells __restrict__. */
    #define restrict __restrict__

    #ifdef DANLU_CUDA_EMULATE
    /* ==== No GPU: threads as a loop, device memory as host memory, cuBLAS as OpenBLAS (column-major, as cuBLAS). ==== */
    #include <cblas.h>
    #define __global__
    #define __device__
    static long danlu_thread;
    #define DANLU_THREAD danlu_thread
    #define DANLU_LAUNCH(kernel, threads, ...) \
      do { for (danlu_thread = 0; danlu_thread < (long)(threads); danlu_thread++) kernel(__VA_ARGS__); } while (0)
    typedef int cudaError_t;
    enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2 };
    enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
    static const char *cudaGetErrorString(cudaError_t e) { return e ? "out of memory" : "no error"; }
    static cudaError_t cudaMalloc(void **p, size_t n) { *p = malloc(n ? n : 1); return *p ? cudaSuccess : cudaErrorMemoryAllocation; }
    static cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind) { memmove(d, s, n); return cudaSuccess; }
    static cudaError_t cudaMemset(void *d, int v, size_t n) { memset(d, v, n); return cudaSuccess; }
    static cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
    static cudaError_t cudaGetLastError(void) { return cudaSuccess; }
    static cudaError_t cudaGetDeviceCount(int *count) { *count = 1; return cudaSuccess; }
    /* Events read the host's clock. */
    #include <time.h>
    typedef double *cudaEvent_t;
    static cudaError_t cudaEventCreate(cudaEvent_t *e) { *e = (double *)calloc(1, sizeof(double)); return *e ? cudaSuccess : cudaErrorMemoryAllocation; }
    static cudaError_t cudaEventRecord(cudaEvent_t e) {
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      *e = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
      return cudaSuccess;
    }
    static cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
    static cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) { *ms = (float)(*end - *start); return cudaSuccess; }
    typedef int cublasHandle_t;
    typedef int cublasStatus_t;
    typedef int cublasOperation_t;
    enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
    static cublasStatus_t cublasCreate(cublasHandle_t *h) { *h = 1; return CUBLAS_STATUS_SUCCESS; }
    static cublasStatus_t cublasSgemm(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                      const float *alpha, const float *a, int lda, const float *b, int ldb,
                                      const float *beta, float *c, int ldc) {
      cblas_sgemm(CblasColMajor, ta == CUBLAS_OP_T ? CblasTrans : CblasNoTrans, tb == CUBLAS_OP_T ? CblasTrans : CblasNoTrans,
                  m, n, k, *alpha, a, lda, b, ldb, *beta, c, ldc);
      return CUBLAS_STATUS_SUCCESS;
    }
    static cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                                    int k, const float *alpha, const float *a, int lda, long long stride_a,
                                                    const float *b, int ldb, long long stride_b, const float *beta, float *c,
                                                    int ldc, long long stride_c, int batch) {
      for (int i = 0; i < batch; i++)
        cublasSgemm(h, ta, tb, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta, c + i * stride_c, ldc);
      return CUBLAS_STATUS_SUCCESS;
    }
    static const int danlu_emulated = 1;
    #else
    #include <cublas_v2.h>
    #include <cuda_runtime.h>
    #define DANLU_THREAD ((long)blockIdx.x * blockDim.x + threadIdx.x)
    #define DANLU_LAUNCH(kernel, threads, ...)                                                           \
      do {                                                                                               \
        const long danlu_count = (long)(threads);                                                        \
        if (danlu_count > 0) kernel<<<(unsigned)((danlu_count + 255) / 256), 256>>>(__VA_ARGS__);        \
      } while (0)
    static const int danlu_emulated = 0;
    #endif

    /* ==== Every call checked; a failure names the layer whose kernel made it ==== */
    static const char *danlu_cuda_layer = "(setup)";
    #define DANLU_CUDA(call)                                                                                 \
      do {                                                                                                   \
        const cudaError_t danlu_e = (call);                                                                  \
        if (danlu_e != cudaSuccess) {                                                                        \
          fprintf(stderr, "error: CUDA: %s in layer '%s' (%s)\n", cudaGetErrorString(danlu_e), danlu_cuda_layer, #call); \
          exit(1);                                                                                           \
        }                                                                                                    \
      } while (0)
    static const char *danlu_cublas_status(int status) {
      switch (status) {
      case 1: return "not initialized (no usable GPU or driver?)";
      case 3: return "GPU memory allocation failed";
      case 7: return "invalid value";
      case 8: return "not supported by this GPU's architecture";
      case 13: return "execution failed on the GPU";
      case 14: return "internal error";
      default: return "failed";
      }
    }
    #define DANLU_CUBLAS(call)                                                                               \
      do {                                                                                                   \
        const cublasStatus_t danlu_s = (call);                                                               \
        if (danlu_s != CUBLAS_STATUS_SUCCESS) {                                                              \
          fprintf(stderr, "error: cuBLAS: %s (status %d) in layer '%s' (%s)\n", danlu_cublas_status((int)danlu_s), \
                  (int)danlu_s, danlu_cuda_layer, #call);                                                    \
          exit(1);                                                                                           \
        }                                                                                                    \
      } while (0)

    /* DANLU_CUDA_SYNC=1 waits after every kernel, so that an error is reported at the layer that made it. */
    static int danlu_cuda_sync = 0;
    #define DANLU_AFTER_KERNEL()                                                                             \
      do {                                                                                                   \
        DANLU_CUDA(cudaGetLastError());                                                                      \
        if (danlu_cuda_sync) DANLU_CUDA(cudaDeviceSynchronize());                                            \
      } while (0)

    static cublasHandle_t danlu_blas;

    /* Row-major C[m×n] = op(A)·op(B) + beta·C. cuBLAS is column-major and reads a row-major matrix as its
     * transpose, so it computes Cᵀ = op(B)ᵀ·op(A)ᵀ: B first, then A. */
    static void danlu_gemm(int trans_a, int trans_b, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                           float beta, float *c, int ldc) {
      const float one = 1.0f;
      DANLU_CUBLAS(cublasSgemm(danlu_blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                               n, m, k, &one, b, ldb, a, lda, &beta, c, ldc));
    }

    /* `batch` such products in one call, operand i at a + i·stride_a (and b, c likewise; a stride of 0 shares it). */
    static void danlu_gemm_batched(int trans_a, int trans_b, int m, int n, int k, const float *a, int lda, long stride_a,
                                   const float *b, int ldb, long stride_b, float beta, float *c, int ldc, long stride_c,
                                   int batch) {
      const float one = 1.0f;
      DANLU_CUBLAS(cublasSgemmStridedBatched(danlu_blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                                             n, m, k, &one, b, ldb, stride_b, a, lda, stride_a, &beta, c, ldc, stride_c, batch));
    }

    #endif

    """#

  /// Builds `model` from `model.cu` and the C runtime in `runtime/` with nvcc and cuBLAS (`make emulated`: for this
  /// CPU, without a GPU).
  public static let makefile = """
    # Generated by Danlu. `make` builds ./model with nvcc; CUDA_ARCH picks the GPU (native: the one in this machine).
    NVCC ?= nvcc
    CC ?= cc
    CUDA_ARCH ?= native
    RUNTIME := $(wildcard runtime/*.c)
    OBJECTS := $(RUNTIME:.c=.o)

    model: model.cu danlu_cuda.h $(OBJECTS)
    \t$(NVCC) -O3 -arch=$(CUDA_ARCH) -DDANLU_STANDALONE -Iruntime/include -o $@ model.cu $(OBJECTS) -lcublas

    runtime/%.o: runtime/%.c
    \t$(CC) -O2 -std=c11 -Iruntime/include -c $< -o $@

    # Without a GPU: the same source as C++ for this CPU (kernels as loops over their threads, cuBLAS as OpenBLAS). A
    # binary reads NAME.safetensors beside it by default, so emulated.safetensors points at the folder's weights.
    emulated: model.cu danlu_cuda.h $(OBJECTS)
    \t$(CXX) -O2 -x c++ -std=c++17 -DDANLU_CUDA_EMULATE -DDANLU_STANDALONE -I. -Iruntime/include -o $@ model.cu -x none $(OBJECTS) -lopenblas -lm
    \tln -sf model.safetensors emulated.safetensors

    clean:
    \trm -f model emulated emulated.safetensors $(OBJECTS)

    .PHONY: clean

    """
}
