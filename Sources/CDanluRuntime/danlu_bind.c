#define _POSIX_C_SOURCE 200809L  /* fileno, fsync, clock_gettime under -std=c11 */
/* Matching a weights file to a model's parameters, reporting every problem at once. */
#include <string.h>
#include "danlu_util.h"

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Appends to err, keeping it NUL-terminated; returns the new length. */
static size_t append(char *err, size_t errlen, size_t used, const char *format, const char *name, const char *detail) {
  if (!err || used + 1 >= errlen) return used;
  int n = snprintf(err + used, errlen - used, format, name, detail);
  return n < 0 ? used : (used + (size_t)n >= errlen ? errlen - 1 : used + (size_t)n);
}

static void shape_text(char *out, size_t len, int rank, const int64_t *shape) {
  size_t used = (size_t)snprintf(out, len, "[");
  for (int i = 0; i < rank && used < len; i++) used += (size_t)snprintf(out + used, len - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (used < len) snprintf(out + used, len - used, "]");
}

int danlu_bind_weights(const danlu_model *model, const danlu_tensor_set *weights, const float **params, char *err,
                       size_t errlen) {
  size_t used = 0;
  int problems = 0;
  if (err && errlen) err[0] = 0;
  for (int i = 0; i < model->num_params; i++) {
    const danlu_tensor_info *p = &model->params[i];
    const danlu_tensor *found = NULL;
    for (int k = 0; k < weights->count; k++) if (strcmp(weights->tensors[k].name, p->name) == 0) found = &weights->tensors[k];
    char expected[128], actual[128];
    shape_text(expected, sizeof expected, p->rank, p->shape);
    if (!found) {
      used = append(err, errlen, used, "\n  missing: %s %s", p->name, expected);
      problems++;
      continue;
    }
    shape_text(actual, sizeof actual, found->rank, found->shape);
    int same = found->rank == p->rank;
    for (int d = 0; same && d < p->rank; d++) same = found->shape[d] == p->shape[d];
    if (!same) {
      char detail[300];
      snprintf(detail, sizeof detail, "has shape %s, the model expects %s", actual, expected);
      used = append(err, errlen, used, "\n  wrong shape: %s %s", p->name, detail);
      problems++;
    } else if (found->dtype != DANLU_F32) {
      used = append(err, errlen, used, "\n  wrong dtype: %s is %s, the model expects F32", p->name, danlu_dtype_name(found->dtype));
      problems++;
    } else {
      params[i] = found->data;
    }
  }
  for (int k = 0; k < weights->count; k++) {
    const char *name = weights->tensors[k].name;
    if (ends_with(name, "num_batches_tracked")) continue;  /* PyTorch bookkeeping, not needed at inference */
    /* A training checkpoint's optimizer state and progress ride along in the same file. */
    if (strncmp(name, "optimizer.", 10) == 0 || strncmp(name, "trainer.", 8) == 0) continue;
    int known = 0;
    for (int i = 0; i < model->num_params && !known; i++) known = strcmp(model->params[i].name, name) == 0;
    if (!known) {
      used = append(err, errlen, used, "\n  unexpected: %s%s", name, "");
      problems++;
    }
  }
  if (!problems) return 0;
  /* Put a summary line in front of the list. */
  char list[4096];
  snprintf(list, sizeof list, "%s", err);
  return danlu_fail(err, errlen, "the weights do not match model '%s' (%d problem%s):%s", model->name, problems,
                    problems == 1 ? "" : "s", list);
}
