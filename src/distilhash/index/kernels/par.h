/* Splitting one scan over threads (POSIX threads; see distilhash.index.native).

   dh_scan_threads (set by dh_set_threads, default 1) is the most threads a scan may use; a scan
   uses more than one only when it reads at least DH_PAR_MIN_BYTES of codes per thread, so small
   indexes and IVF lists stay single-threaded (starting a thread costs tens of microseconds).
   Each thread scans a contiguous part of the rows into its own top-k state; the caller merges the
   parts, which keeps results identical to the single-threaded scan (ties break by row). */
#ifndef DISTILHASH_PAR_H
#define DISTILHASH_PAR_H
#include <pthread.h>
#include <stdint.h>

#define DH_MAX_THREADS 64
#define DH_PAR_MIN_BYTES ((int64_t)2 << 20)

extern int32_t dh_scan_threads;

/* Threads for a scan reading ``bytes`` bytes of codes in ``units`` splittable units. */
static inline int32_t dh_threads_for(int64_t bytes, int64_t units) {
    int64_t t = dh_scan_threads;
    if (bytes / DH_PAR_MIN_BYTES < t) t = bytes / DH_PAR_MIN_BYTES;
    if (units < t) t = units;
    return t < 1 ? 1 : (int32_t)t;
}

/* Part ``t`` of ``T`` of the unit range [0, units): [*lo, *hi). */
static inline void dh_part(int64_t units, int32_t T, int32_t t, int64_t *lo, int64_t *hi) {
    *lo = units * t / T;
    *hi = units * (t + 1) / T;
}

/* Run fn(args + t * size) for t = 0..T-1, thread 0 on the calling thread; when a thread cannot
   be started its part runs on the calling thread afterwards. */
static inline void dh_run(int32_t T, void *(*fn)(void *), void *args, size_t size) {
    pthread_t tid[DH_MAX_THREADS];
    int started[DH_MAX_THREADS];
    if (T > DH_MAX_THREADS) T = DH_MAX_THREADS;
    for (int32_t t = 1; t < T; t++) started[t] = pthread_create(&tid[t], NULL, fn, (char *)args + t * size) == 0;
    fn(args);
    for (int32_t t = 1; t < T; t++) {
        if (started[t]) pthread_join(tid[t], NULL);
        else fn((char *)args + t * size);
    }
}

#endif
