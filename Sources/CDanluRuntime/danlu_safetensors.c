#define _POSIX_C_SOURCE 200809L  /* fileno, fsync, clock_gettime under -std=c11 */
/* .safetensors: an 8-byte little-endian header length, a JSON header, then the raw data. Every offset and size is
 * checked before it is used, so a truncated or hostile file is an error message, never a crash. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "danlu_util.h"

#define MAX_HEADER (100u << 20)

typedef struct {
  const char *p, *end;
  char *err;
  size_t errlen;
} json;

static void skip_ws(json *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t')) j->p++;
}

static int expect(json *j, char c) {
  skip_ws(j);
  if (j->p >= j->end || *j->p != c) return danlu_fail(j->err, j->errlen, "malformed header: expected '%c'", c);
  j->p++;
  return 0;
}

/* Parses a JSON string into a fresh allocation (escapes kept simple: \" \\ \/ and \uXXXX as '?'). */
static int parse_string(json *j, char **out) {
  if (expect(j, '"')) return 1;
  size_t cap = 16, len = 0;
  char *s = malloc(cap);
  if (!s) return danlu_fail(j->err, j->errlen, "out of memory");
  while (j->p < j->end && *j->p != '"') {
    char c = *j->p++;
    if (c == '\\') {
      if (j->p >= j->end) break;
      c = *j->p++;
      if (c == 'u') {
        if (j->end - j->p < 4) break;
        j->p += 4;
        c = '?';
      } else if (c == 'n') c = '\n';
      else if (c == 't') c = '\t';
    }
    if (len + 2 > cap) {
      char *bigger = realloc(s, cap *= 2);
      if (!bigger) { free(s); return danlu_fail(j->err, j->errlen, "out of memory"); }
      s = bigger;
    }
    s[len++] = c;
  }
  if (j->p >= j->end) { free(s); return danlu_fail(j->err, j->errlen, "malformed header: unterminated string"); }
  j->p++;
  s[len] = 0;
  *out = s;
  return 0;
}

static int parse_int(json *j, int64_t *out) {
  skip_ws(j);
  const char *start = j->p;
  int64_t v = 0;
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
    if (v > (INT64_MAX - 9) / 10) return danlu_fail(j->err, j->errlen, "malformed header: integer too large");
    v = v * 10 + (*j->p++ - '0');
  }
  if (j->p == start) return danlu_fail(j->err, j->errlen, "malformed header: expected a non-negative integer");
  *out = v;
  return 0;
}

static int parse_int_array(json *j, int64_t *values, int max, int *count) {
  if (expect(j, '[')) return 1;
  *count = 0;
  skip_ws(j);
  if (j->p < j->end && *j->p == ']') { j->p++; return 0; }
  for (;;) {
    if (*count == max) return danlu_fail(j->err, j->errlen, "malformed header: too many dimensions (max %d)", max);
    if (parse_int(j, &values[(*count)++])) return 1;
    skip_ws(j);
    if (j->p < j->end && *j->p == ',') { j->p++; continue; }
    return expect(j, ']');
  }
}

/* Skips any JSON value (used for __metadata__ and unknown keys), with a depth limit. */
static int skip_value(json *j, int depth) {
  if (depth > 32) return danlu_fail(j->err, j->errlen, "malformed header: nested too deeply");
  skip_ws(j);
  if (j->p >= j->end) return danlu_fail(j->err, j->errlen, "malformed header: unexpected end");
  char c = *j->p;
  if (c == '"') { char *s; if (parse_string(j, &s)) return 1; free(s); return 0; }
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == close) { j->p++; return 0; }
    for (;;) {
      if (c == '{') { char *k; if (parse_string(j, &k)) return 1; free(k); if (expect(j, ':')) return 1; }
      if (skip_value(j, depth + 1)) return 1;
      skip_ws(j);
      if (j->p < j->end && *j->p == ',') { j->p++; continue; }
      return expect(j, close);
    }
  }
  while (j->p < j->end && *j->p != ',' && *j->p != '}' && *j->p != ']') j->p++;
  return 0;
}

static int dtype_from_name(const char *name, danlu_dtype *out) {
  static const char *names[] = {"F32", "F64", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"};
  for (int i = 0; i < 10; i++) if (strcmp(name, names[i]) == 0) { *out = (danlu_dtype)i; return 0; }
  return 1;
}

void danlu_tensor_set_free(danlu_tensor_set *set) {
  for (int i = 0; i < set->count; i++) free(set->tensors[i].name);
  free(set->tensors);
  free(set->buffer);
  memset(set, 0, sizeof *set);
}

int danlu_safetensors_parse(void *bytes, size_t size, danlu_tensor_set *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  out->buffer = bytes;
  const unsigned char *b = bytes;
  if (size < 8) { danlu_tensor_set_free(out); return danlu_fail(err, errlen, "file too short for a header (%zu bytes)", size); }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | b[i];
  if (header_len > MAX_HEADER || header_len > size - 8) {
    danlu_tensor_set_free(out);
    return danlu_fail(err, errlen, "header length %llu exceeds the file (%zu bytes): truncated or not safetensors",
                      (unsigned long long)header_len, size);
  }
  const unsigned char *data = b + 8 + header_len;
  size_t data_size = size - 8 - (size_t)header_len;
  json j = {(const char *)b + 8, (const char *)b + 8 + header_len, err, errlen};
  int capacity = 0;
  if (expect(&j, '{')) goto fail;
  skip_ws(&j);
  if (j.p < j.end && *j.p == '}') return 0;
  for (;;) {
    char *name;
    if (parse_string(&j, &name)) goto fail;
    if (expect(&j, ':')) { free(name); goto fail; }
    if (strcmp(name, "__metadata__") == 0) {
      free(name);
      if (skip_value(&j, 0)) goto fail;
    } else {
      if (out->count == capacity) {
        capacity = capacity ? capacity * 2 : 16;
        danlu_tensor *grown = realloc(out->tensors, sizeof(danlu_tensor) * (size_t)capacity);
        if (!grown) { free(name); danlu_fail(err, errlen, "out of memory"); goto fail; }
        out->tensors = grown;
      }
      danlu_tensor *t = &out->tensors[out->count++];
      memset(t, 0, sizeof *t);
      t->name = name;
      int have_dtype = 0, have_shape = 0, have_offsets = 0;
      int64_t offsets[2];
      if (expect(&j, '{')) goto fail;
      for (;;) {
        char *key;
        if (parse_string(&j, &key)) goto fail;
        if (expect(&j, ':')) { free(key); goto fail; }
        int bad = 0;
        if (strcmp(key, "dtype") == 0) {
          char *dtype;
          bad = parse_string(&j, &dtype);
          if (!bad) {
            if (dtype_from_name(dtype, &t->dtype)) bad = danlu_fail(err, errlen, "tensor '%s': unknown dtype '%s'", name, dtype);
            free(dtype);
            have_dtype = 1;
          }
        } else if (strcmp(key, "shape") == 0) {
          bad = parse_int_array(&j, t->shape, DANLU_MAX_RANK, &t->rank);
          have_shape = 1;
        } else if (strcmp(key, "data_offsets") == 0) {
          int n = 0;
          bad = parse_int_array(&j, offsets, 2, &n);
          if (!bad && n != 2) bad = danlu_fail(err, errlen, "tensor '%s': data_offsets needs two numbers", name);
          have_offsets = 1;
        } else {
          bad = skip_value(&j, 0);
        }
        free(key);
        if (bad) goto fail;
        skip_ws(&j);
        if (j.p < j.end && *j.p == ',') { j.p++; continue; }
        if (expect(&j, '}')) goto fail;
        break;
      }
      if (!have_dtype || !have_shape || !have_offsets) {
        danlu_fail(err, errlen, "tensor '%s': needs dtype, shape and data_offsets", name);
        goto fail;
      }
      int64_t count = danlu_element_count(t->rank, t->shape);
      size_t element = danlu_dtype_size(t->dtype);
      if (count < 0 || (uint64_t)count > SIZE_MAX / element) { danlu_fail(err, errlen, "tensor '%s': shape too large", name); goto fail; }
      if (offsets[0] > offsets[1] || (uint64_t)offsets[1] > data_size) {
        danlu_fail(err, errlen, "tensor '%s': data_offsets [%lld, %lld] fall outside the %zu bytes of data (truncated file?)",
                   name, (long long)offsets[0], (long long)offsets[1], data_size);
        goto fail;
      }
      t->nbytes = (size_t)(offsets[1] - offsets[0]);
      if (t->nbytes != (size_t)count * element) {
        danlu_fail(err, errlen, "tensor '%s': %zu bytes of data for a %s tensor of %lld elements", name, t->nbytes,
                   danlu_dtype_name(t->dtype), (long long)count);
        goto fail;
      }
      t->data = (void *)(data + offsets[0]);
      for (int k = 0; k < out->count - 1; k++) {
        if (strcmp(out->tensors[k].name, name) == 0) { danlu_fail(err, errlen, "tensor '%s' appears twice", name); goto fail; }
      }
    }
    skip_ws(&j);
    if (j.p < j.end && *j.p == ',') { j.p++; continue; }
    if (expect(&j, '}')) goto fail;
    break;
  }
  return 0;
fail:
  danlu_tensor_set_free(out);
  return 1;
}

int danlu_safetensors_read(const char *path, danlu_tensor_set *out, char *err, size_t errlen) {
  size_t size = 0;
  void *bytes = danlu_read_file(path, &size, err, errlen);
  if (!bytes) { memset(out, 0, sizeof *out); return 1; }
  if (danlu_safetensors_parse(bytes, size, out, err, errlen) == 0) return 0;
  /* Prefix the reason with the file name. */
  char reason[512];
  snprintf(reason, sizeof reason, "%s", err);
  return danlu_fail(err, errlen, "%s: %s", path, reason);
}

int danlu_safetensors_write(const char *path, const danlu_tensor *tensors, int count, char *err, size_t errlen) {
  size_t cap = 256 + (size_t)count * 256, len = 0;
  char *header = malloc(cap);
  if (!header) return danlu_fail(err, errlen, "out of memory");
  len += (size_t)snprintf(header + len, cap - len, "{");
  size_t offset = 0;
  for (int i = 0; i < count; i++) {
    const danlu_tensor *t = &tensors[i];
    if (cap - len < strlen(t->name) + 256) {
      cap = cap * 2 + strlen(t->name);
      char *bigger = realloc(header, cap);
      if (!bigger) { free(header); return danlu_fail(err, errlen, "out of memory"); }
      header = bigger;
    }
    len += (size_t)snprintf(header + len, cap - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "", t->name,
                            danlu_dtype_name(t->dtype));
    for (int d = 0; d < t->rank; d++) len += (size_t)snprintf(header + len, cap - len, "%s%lld", d ? "," : "", (long long)t->shape[d]);
    len += (size_t)snprintf(header + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", offset, offset + t->nbytes);
    offset += t->nbytes;
  }
  len += (size_t)snprintf(header + len, cap - len, "}");
  while (len % 8) header[len++] = ' ';  /* keep the data 8-byte aligned */

  char temporary[4096];
  snprintf(temporary, sizeof temporary, "%s.tmp.%d", path, (int)getpid());
  FILE *f = fopen(temporary, "wb");
  if (!f) { free(header); return danlu_fail(err, errlen, "%s: cannot open for writing", temporary); }
  unsigned char size_bytes[8];
  for (int i = 0; i < 8; i++) size_bytes[i] = (unsigned char)((uint64_t)len >> (8 * i));
  int bad = fwrite(size_bytes, 1, 8, f) != 8 || fwrite(header, 1, len, f) != len;
  free(header);
  for (int i = 0; i < count && !bad; i++) bad = fwrite(tensors[i].data, 1, tensors[i].nbytes, f) != tensors[i].nbytes;
  bad = bad || fflush(f) != 0 || fsync(fileno(f)) != 0;
  if (fclose(f) != 0) bad = 1;
  if (bad || rename(temporary, path) != 0) {
    int saved = errno;
    unlink(temporary);
    return danlu_fail(err, errlen, "%s: write failed (%s); the previous file is untouched", path, strerror(saved));
  }
  return 0;
}
