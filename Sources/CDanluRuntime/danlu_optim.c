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
    const float step_size = (float)(lr / c1), root_c2 = (float)sqrt(c2);
    for (int64_t i = 0; i < n; i++) {
      float g = grad[i] * grad_scale;
      if (o->kind == DANLU_ADAMW) param[i] *= 1.0f - lr * wd; else g += wd * param[i];
      m[i] = o->beta1 * m[i] + (1.0f - o->beta1) * g;
      v[i] = o->beta2 * v[i] + (1.0f - o->beta2) * g * g;
      param[i] -= step_size * m[i] / (sqrtf(v[i]) / root_c2 + o->eps);
    }
    break;
  }
  }
}
