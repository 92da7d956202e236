/* Optimizer updates with PyTorch's semantics (torch.optim.SGD, Adam, AdamW), one parameter tensor at a time. */
#include <math.h>
#include "danlu_runtime.h"

double danlu_sum_squares(const float *x, int64_t n) {
  double total = 0.0;
  for (int64_t i = 0; i < n; i++) total += (double)x[i] * x[i];
  return total;
}

/* One branch-free loop over restrict pointers, so that the compiler vectorizes it (square roots and divisions too). */
static void adam(float *restrict param, const float *restrict grad, float *restrict m, float *restrict v, int64_t n,
                 float l2, float decay, float beta1, float beta2, float step_size, float root_c2, float eps, float grad_scale) {
  for (int64_t i = 0; i < n; i++) {
    const float g = grad[i] * grad_scale + l2 * param[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * g, vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i] * decay - step_size * mi / (sqrtf(vi) / root_c2 + eps);
  }
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
    /* Adam adds the weight decay to the gradient (L2); AdamW shrinks the parameter instead (decoupled). */
    const int decoupled = o->kind == DANLU_ADAMW;
    adam(param, grad, m, v, n, decoupled ? 0.0f : wd, decoupled ? 1.0f - lr * wd : 1.0f, o->beta1, o->beta2,
         (float)(lr / c1), (float)sqrt(c2), o->eps, grad_scale);
    break;
  }
  }
}
