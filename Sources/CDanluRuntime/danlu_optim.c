/* Optimizer updates with PyTorch's semantics (torch.optim.SGD, Adam, AdamW), one parameter tensor at a time. */
#include <math.h>
#include "danlu_runtime.h"

double danlu_sum_squares(const float *x, int64_t n) {
  double total = 0.0;
  for (int64_t i = 0; i < n; i++) total += (double)x[i] * x[i];
  return total;
}

void danlu_optimizer_step(const danlu_optimizer *o, float *param, const float *grad, float *m, float *v, int64_t n,
                          int64_t step, float grad_scale) {
  danlu_optimizer_apply(o, param, grad, m, v, n, step, grad_scale);
}
