// fsyncprobe: the disk's durable-append floor, measured the way a write-ahead log pays it.
//
// usage: fsyncprobe DIR SECONDS [BLOCK_BYTES=4096]
// Preallocates 64 MiB in DIR/fsyncprobe.dat, then for SECONDS: pwrite BLOCK_BYTES at the next
// offset + fdatasync, timing each pair. Prints one JSON line: n, p50_ms, p90_ms, p99_ms, max_ms.
// The file is removed at the end. Used by bench/compare.sh for the physical floor.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *s, size_t n, double p) {
  if (n == 0) return 0;
  size_t i = (size_t)(p * (double)(n - 1));
  return (double)s[i] / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s DIR SECONDS [BLOCK_BYTES]\n", argv[0]);
    return 2;
  }
  double seconds = atof(argv[2]);
  size_t block = argc > 3 ? (size_t)atol(argv[3]) : 4096;
  const off_t size = 64 << 20;
  if (seconds <= 0 || block == 0 || block > (size_t)size) {
    fprintf(stderr, "fsyncprobe: bad SECONDS or BLOCK_BYTES\n");
    return 2;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/fsyncprobe.dat", argv[1]);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) { perror(path); return 1; }
  if (posix_fallocate(fd, 0, size) != 0 || fsync(fd) != 0) { perror("preallocate"); unlink(path); return 1; }
  char *buf = malloc(block);
  if (!buf) { unlink(path); return 1; }
  memset(buf, 'a', block);
  size_t cap = 1 << 16, n = 0;
  uint64_t *lat = malloc(cap * sizeof *lat);
  if (!lat) { unlink(path); return 1; }
  uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
  off_t off = 0;
  while (now_ns() < end && n < cap) {
    uint64_t t0 = now_ns();
    if (pwrite(fd, buf, block, off) != (ssize_t)block || fdatasync(fd) != 0) { perror("write/fdatasync"); unlink(path); return 1; }
    lat[n++] = now_ns() - t0;
    off += (off_t)block;
    if (off + (off_t)block > size) off = 0;
  }
  close(fd);
  unlink(path);
  qsort(lat, n, sizeof *lat, cmp_u64);
  printf("{\"n\":%zu,\"block\":%zu,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n", n, block,
         pct_ms(lat, n, 0.5), pct_ms(lat, n, 0.9), pct_ms(lat, n, 0.99), pct_ms(lat, n, 1.0));
  return 0;
}
