/*
** test-io.c -- how a write is cut into libuv buffers. A uv_buf_t length is
** an unsigned int: a write of 4 GiB or more used to send len mod 2^32
** bytes and report success. Writes now go out in buffers of at most
** CR__WRITE_CHUNK (1 GiB) bytes; cr__nbufs/cr__fill_bufs are the whole of
** that arithmetic, so they are checked here with small chunks on real
** memory, and with the real chunk on lengths past 2^32 (count only: no
** 4 GiB buffer is allocated).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define CHECK(c) do { if (!(c)) { \
  fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
  return 1; } } while (0)

/* The bufs cover data exactly, in order, each at most chunk bytes. */
static int covers(const uv_buf_t *b, size_t n, char *data, size_t len,
                  size_t chunk) {
  size_t i, off = 0;
  for (i = 0; i < n; i++) {
    CHECK(b[i].base == data + off);
    CHECK(b[i].len >= 1 && b[i].len <= chunk);
    off += b[i].len;
  }
  CHECK(off == len);
  return 0;
}

static int test_small_chunks(void) {
  char data[100];
  uv_buf_t bufs[100];
  size_t len, chunk;
  for (chunk = 1; chunk <= 13; chunk++)
    for (len = 1; len <= sizeof data; len++) {
      size_t n = cr__nbufs(len, chunk);
      CHECK(n == (len + chunk - 1) / chunk);
      cr__fill_bufs(bufs, data, len, chunk);
      if (covers(bufs, n, data, len, chunk)) return 1;
    }
  return 0;
}

static int test_past_4gib(void) {
  const uint64_t gib = (uint64_t)1 << 30;
  if (sizeof(size_t) < 8) return 0;          /* no such strings there */
  CHECK(CR__WRITE_CHUNK == gib);
  CHECK(CR__WRITE_CHUNK <= UINT32_MAX);       /* fits a uv_buf_t length */
  CHECK(cr__nbufs((size_t)(4 * gib), CR__WRITE_CHUNK) == 4);
  CHECK(cr__nbufs((size_t)(4 * gib + 1), CR__WRITE_CHUNK) == 5);
  CHECK(cr__nbufs((size_t)(5 * gib - 1), CR__WRITE_CHUNK) == 5);
  CHECK(cr__nbufs(SIZE_MAX, CR__WRITE_CHUNK) ==
        SIZE_MAX / CR__WRITE_CHUNK + 1);
  CHECK(cr__nbufs(1, CR__WRITE_CHUNK) == 1);
  return 0;
}

/* The last buffer of a length just past 2^32 carries the remainder, not
** len mod 2^32 as a single buffer would: checked with chunk = 2^32 / 4 on
** a scaled-down model (chunk 4, len 17 = "4 GiB + 1"). */
static int test_remainder(void) {
  char data[17];
  uv_buf_t bufs[5];
  cr__fill_bufs(bufs, data, sizeof data, 4);
  CHECK(bufs[4].len == 1);
  return covers(bufs, 5, data, sizeof data, 4);
}

int main(void) {
  if (test_small_chunks() || test_past_4gib() || test_remainder()) return 1;
  printf("test-io: ok\n");
  return 0;
}
