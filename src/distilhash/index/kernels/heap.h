/* A bounded max-heap of (distance, row) pairs whose root is the worst kept pair: among equal
   distances the larger row is worse, so the kept set and its sorted order follow (distance, row). */
#ifndef DISTILHASH_HEAP_H
#define DISTILHASH_HEAP_H
#include <stdint.h>

#define WORSE(d1, r1, d2, r2) ((d1) > (d2) || ((d1) == (d2) && (r1) > (r2)))

#define DEFINE_HEAP(NAME, T)                                                        \
static void NAME##_push(T *hd, int64_t *hr, int64_t cnt, T d, int64_t r) {          \
    int64_t i = cnt;                                                                \
    while (i > 0) {                                                                 \
        int64_t p = (i - 1) / 2;                                                    \
        if (!WORSE(d, r, hd[p], hr[p])) break;                                      \
        hd[i] = hd[p]; hr[i] = hr[p]; i = p;                                        \
    }                                                                               \
    hd[i] = d; hr[i] = r;                                                           \
}                                                                                   \
static void NAME##_replace_top(T *hd, int64_t *hr, int64_t k, T d, int64_t r) {     \
    int64_t i = 0;                                                                  \
    for (;;) {                                                                      \
        int64_t l = 2 * i + 1, c;                                                   \
        if (l >= k) break;                                                          \
        c = l;                                                                      \
        if (l + 1 < k && WORSE(hd[l + 1], hr[l + 1], hd[l], hr[l])) c = l + 1;      \
        if (!WORSE(hd[c], hr[c], d, r)) break;                                      \
        hd[i] = hd[c]; hr[i] = hr[c]; i = c;                                        \
    }                                                                               \
    hd[i] = d; hr[i] = r;                                                           \
}                                                                                   \
static void NAME##_sort(T *hd, int64_t *hr, int64_t cnt) {                          \
    /* heap sort: repeatedly move the worst to the end -> ascending order */        \
    for (int64_t end = cnt - 1; end > 0; end--) {                                   \
        T d = hd[end]; int64_t r = hr[end];                                         \
        hd[end] = hd[0]; hr[end] = hr[0];                                           \
        NAME##_replace_top(hd, hr, end, d, r);                                      \
    }                                                                               \
}

#endif
