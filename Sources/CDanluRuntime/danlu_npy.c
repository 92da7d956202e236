#define _POSIX_C_SOURCE 200809L  /* fileno, fsync, clock_gettime under -std=c11 */
/* NumPy .npy files: version 1–3 headers, little-endian float32 ('<f4'), C order. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "danlu_util.h"

void *danlu_read_file(const char *path, size_t *size, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) { danlu_fail(err, errlen, "%s: cannot open the file", path); return NULL; }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    danlu_fail(err, errlen, "%s: not a regular file", path);
    return NULL;
  }
  size_t n = (size_t)st.st_size;
  void *bytes = malloc(n ? n : 1);
  if (!bytes) { fclose(f); danlu_fail(err, errlen, "%s: out of memory reading %zu bytes", path, n); return NULL; }
  if (n && fread(bytes, 1, n, f) != n) {
    fclose(f);
    free(bytes);
    danlu_fail(err, errlen, "%s: read error", path);
    return NULL;
  }
  fclose(f);
  *size = n;
  return bytes;
}

size_t danlu_dtype_size(danlu_dtype dtype) {
  switch (dtype) {
  case DANLU_F64: case DANLU_I64: return 8;
  case DANLU_F32: case DANLU_I32: return 4;
  case DANLU_F16: case DANLU_BF16: case DANLU_I16: return 2;
  default: return 1;
  }
}

const char *danlu_dtype_name(danlu_dtype dtype) {
  static const char *names[] = {"F32", "F64", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"};
  return names[dtype];
}

int64_t danlu_element_count(int rank, const int64_t *shape) {
  int64_t count = 1;
  for (int i = 0; i < rank; i++) {
    if (shape[i] < 0) return -1;
    if (shape[i] != 0 && count > INT64_MAX / shape[i]) return -1;
    count *= shape[i];
  }
  return count;
}

void danlu_tensor_free(danlu_tensor *t) {
  free(t->data);
  free(t->name);
  memset(t, 0, sizeof *t);
}

/* Finds `'key':` in the header dict and returns a pointer just past the colon. */
static const char *npy_value(const char *header, const char *key) {
  char quoted[64];
  snprintf(quoted, sizeof quoted, "'%s'", key);
  const char *p = strstr(header, quoted);
  if (!p) return NULL;
  p += strlen(quoted);
  while (*p == ' ') p++;
  if (*p != ':') return NULL;
  p++;
  while (*p == ' ') p++;
  return p;
}

int danlu_npy_read(const char *path, danlu_tensor *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  size_t size = 0;
  unsigned char *bytes = danlu_read_file(path, &size, err, errlen);
  if (!bytes) return 1;
  int status = 1;
  if (size < 10 || memcmp(bytes, "\x93NUMPY", 6) != 0) {
    danlu_fail(err, errlen, "%s: not a .npy file (bad magic)", path);
    goto done;
  }
  size_t header_len, start;
  if (bytes[6] == 1) {
    header_len = (size_t)bytes[8] | ((size_t)bytes[9] << 8);
    start = 10;
  } else if (bytes[6] == 2 || bytes[6] == 3) {
    if (size < 12) { danlu_fail(err, errlen, "%s: truncated header", path); goto done; }
    header_len = (size_t)bytes[8] | ((size_t)bytes[9] << 8) | ((size_t)bytes[10] << 16) | ((size_t)bytes[11] << 24);
    start = 12;
  } else {
    danlu_fail(err, errlen, "%s: unsupported .npy version %d", path, bytes[6]);
    goto done;
  }
  if (header_len > size - start) { danlu_fail(err, errlen, "%s: truncated header", path); goto done; }
  char *header = malloc(header_len + 1);
  if (!header) { danlu_fail(err, errlen, "%s: out of memory", path); goto done; }
  memcpy(header, bytes + start, header_len);
  header[header_len] = 0;

  const char *descr = npy_value(header, "descr");
  const char *order = npy_value(header, "fortran_order");
  const char *shape = npy_value(header, "shape");
  if (!descr || !order || !shape || *shape != '(') {
    danlu_fail(err, errlen, "%s: malformed header (needs descr, fortran_order and shape)", path);
    free(header);
    goto done;
  }
  if (strncmp(descr, "'<f4'", 5) != 0) {
    char found[16] = {0};
    for (int i = 0; i < 15 && descr[i] && descr[i] != ','; i++) found[i] = descr[i];
    danlu_fail(err, errlen, "%s: dtype %s is not supported; save float32 (numpy.float32, '<f4')", path, found);
    free(header);
    goto done;
  }
  if (strncmp(order, "False", 5) != 0) {
    danlu_fail(err, errlen, "%s: Fortran-ordered arrays are not supported; save with numpy.ascontiguousarray", path);
    free(header);
    goto done;
  }
  const char *p = shape + 1;
  int rank = 0;
  while (*p && *p != ')') {
    while (*p == ' ' || *p == ',') p++;
    if (*p == ')') break;
    char *end;
    long long dim = strtoll(p, &end, 10);
    if (end == p || dim < 0 || rank == DANLU_MAX_RANK) {
      danlu_fail(err, errlen, "%s: malformed shape in header", path);
      free(header);
      goto done;
    }
    out->shape[rank++] = dim;
    p = end;
    while (*p == ' ') p++;
    if (*p != ',' && *p != ')') {
      danlu_fail(err, errlen, "%s: malformed shape in header", path);
      free(header);
      goto done;
    }
  }
  free(header);
  out->rank = rank;
  int64_t count = danlu_element_count(rank, out->shape);
  if (count < 0 || (uint64_t)count > (SIZE_MAX / 4)) { danlu_fail(err, errlen, "%s: shape too large", path); goto done; }
  size_t need = (size_t)count * 4, have = size - start - header_len;
  if (have != need) {
    danlu_fail(err, errlen, "%s: the header promises %zu bytes of data but the file holds %zu%s", path, need, have,
               have < need ? " (truncated)" : "");
    goto done;
  }
  out->dtype = DANLU_F32;
  out->nbytes = need;
  out->data = malloc(need ? need : 1);
  if (!out->data) { danlu_fail(err, errlen, "%s: out of memory", path); goto done; }
  memcpy(out->data, bytes + start + header_len, need);
  status = 0;
done:
  free(bytes);
  return status;
}

int danlu_npy_write(const char *path, const float *data, int rank, const int64_t *shape, char *err, size_t errlen) {
  char dims[256] = "";
  size_t used = 0;
  for (int i = 0; i < rank; i++) {
    used += (size_t)snprintf(dims + used, sizeof dims - used, "%lld%s", (long long)shape[i],
                             rank == 1 ? "," : (i + 1 < rank ? ", " : ""));
  }
  char header[512];
  int len = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", dims);
  int total = 10 + len + 1;
  int pad = (64 - total % 64) % 64;
  FILE *f = fopen(path, "wb");
  if (!f) return danlu_fail(err, errlen, "%s: cannot open for writing", path);
  unsigned short header_len = (unsigned short)(len + pad + 1);
  fwrite("\x93NUMPY\x01\x00", 1, 8, f);
  fputc(header_len & 0xff, f);
  fputc(header_len >> 8, f);
  fwrite(header, 1, (size_t)len, f);
  for (int i = 0; i < pad; i++) fputc(' ', f);
  fputc('\n', f);
  int64_t count = danlu_element_count(rank, shape);
  size_t written = count > 0 ? fwrite(data, 4, (size_t)count, f) : 0;
  int bad = ferror(f) || written != (size_t)(count > 0 ? count : 0);
  if (fclose(f) != 0 || bad) return danlu_fail(err, errlen, "%s: write error", path);
  return 0;
}

double danlu_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
