/* Internal helpers shared by the runtime's C files. */
#ifndef DANLU_UTIL_H
#define DANLU_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include "danlu_runtime.h"

static inline int danlu_fail(char *err, size_t errlen, const char *format, ...) {
  if (err && errlen) {
    va_list args;
    va_start(args, format);
    vsnprintf(err, errlen, format, args);
    va_end(args);
  }
  return 1;
}

/* Reads a whole file; NULL with a reason in err on failure. */
void *danlu_read_file(const char *path, size_t *size, char *err, size_t errlen);
size_t danlu_dtype_size(danlu_dtype dtype);
const char *danlu_dtype_name(danlu_dtype dtype);
/* Product of dims with overflow and negativity checks; -1 when invalid. */
int64_t danlu_element_count(int rank, const int64_t *shape);

#endif
