/* Exact flat scans (see distilhash.index.native): Hamming top-k, multi-index hashing and the
   float32 ADC top-k over PQ codes. Single-threaded; blocked so a block of codes stays in cache
   while every query of the batch scans it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 4096

#include "heap.h"
#include "par.h"

DEFINE_HEAP(ih, int32_t)
DEFINE_HEAP(fh, float)

int32_t dh_scan_threads = 1;

/* The most threads one scan may use (see par.h); values < 1 mean 1. */
void dh_set_threads(int32_t t) { dh_scan_threads = t < 1 ? 1 : (t > DH_MAX_THREADS ? DH_MAX_THREADS : t); }
int32_t dh_get_threads(void) { return dh_scan_threads; }

#if defined(__AVX512F__) && defined(__AVX512VPOPCNTDQ__)
#include <immintrin.h>
/* The smallest distance of a block: 32 codes (four cache lines) per step, four running minima
   (software prefetching 1-4 KB ahead measured no gain over the hardware prefetcher). */
static inline int32_t ham_min_block(const uint64_t *blk, int64_t len, uint64_t q0) {
    const __m512i qv = _mm512_set1_epi64((long long)q0);
    __m512i m0 = _mm512_set1_epi64(64), m1 = m0, m2 = m0, m3 = m0;
    int64_t j = 0;
    for (; j + 32 <= len; j += 32) {
        m0 = _mm512_min_epu64(m0, _mm512_popcnt_epi64(_mm512_xor_si512(qv, _mm512_loadu_si512((const void *)(blk + j)))));
        m1 = _mm512_min_epu64(m1, _mm512_popcnt_epi64(_mm512_xor_si512(qv, _mm512_loadu_si512((const void *)(blk + j + 8)))));
        m2 = _mm512_min_epu64(m2, _mm512_popcnt_epi64(_mm512_xor_si512(qv, _mm512_loadu_si512((const void *)(blk + j + 16)))));
        m3 = _mm512_min_epu64(m3, _mm512_popcnt_epi64(_mm512_xor_si512(qv, _mm512_loadu_si512((const void *)(blk + j + 24)))));
    }
    int32_t bmin = (int32_t)_mm512_reduce_min_epu64(_mm512_min_epu64(_mm512_min_epu64(m0, m1), _mm512_min_epu64(m2, m3)));
    for (; j < len; j++) {
        int32_t d = (int32_t)__builtin_popcountll(blk[j] ^ q0);
        bmin = d < bmin ? d : bmin;
    }
    return bmin;
}
#else
static inline int32_t ham_min_block(const uint64_t *blk, int64_t len, uint64_t q0) {
    int32_t bmin = INT32_MAX;
    for (int64_t j = 0; j < len; j++) {  /* vectorised popcounts, no stores */
        int32_t d = (int32_t)__builtin_popcountll(blk[j] ^ q0);
        bmin = d < bmin ? d : bmin;
    }
    return bmin;
}
#endif

/* Rows [lo, hi) into the unsorted heaps hd/hr [nq, k] with counts cnt [nq] (both carried over). */
static void ham_range(const uint64_t *db, int64_t lo, int64_t hi, int32_t W, const uint64_t *q, int64_t nq, int64_t k,
                      const uint8_t *dead, int32_t *out_d, int64_t *out_r, int64_t *out_cnt) {
    for (int64_t b0 = lo; b0 < hi; b0 += BLOCK) {
        int64_t b1 = b0 + BLOCK < hi ? b0 + BLOCK : hi;
        for (int64_t qi = 0; qi < nq; qi++) {
            int32_t *hd = out_d + qi * k;
            int64_t *hr = out_r + qi * k;
            int64_t cnt = out_cnt[qi];
            const uint64_t *qq = q + qi * W;
            int32_t top = cnt == k ? hd[0] : INT32_MAX;
            if (W == 1) {
                /* pass 1: the block's minimum only; pass 2 (rare once the heap is full) recomputes
                   the distances of a block that can improve the heap */
                uint64_t q0 = qq[0];
                const uint64_t *blk = db + b0;
                int64_t len = b1 - b0;
                if (cnt == k && ham_min_block(blk, len, q0) >= top) continue;
                for (int64_t j = 0; j < len; j++) {
                    int32_t d = (int32_t)__builtin_popcountll(blk[j] ^ q0);
                    int64_t i = b0 + j;
                    if (d < top) {
                        if (dead && dead[i]) continue;
                        if (cnt < k) { ih_push(hd, hr, cnt++, d, i); if (cnt == k) top = hd[0]; }
                        else { ih_replace_top(hd, hr, k, d, i); top = hd[0]; }
                    }
                }
            } else {
                for (int64_t i = b0; i < b1; i++) {
                    const uint64_t *x = db + i * W;
                    int32_t d = 0;
                    for (int32_t w = 0; w < W; w++) d += (int32_t)__builtin_popcountll(x[w] ^ qq[w]);
                    if (d < top) {
                        if (dead && dead[i]) continue;
                        if (cnt < k) { ih_push(hd, hr, cnt++, d, i); if (cnt == k) top = hd[0]; }
                        else { ih_replace_top(hd, hr, k, d, i); top = hd[0]; }
                    }
                }
            }
            out_cnt[qi] = cnt;
        }
    }
}

typedef struct {
    const uint64_t *db, *q;
    int64_t lo, hi, nq, k;
    int32_t W;
    const uint8_t *dead;
    int32_t *d;
    int64_t *r, *cnt;
} ham_part;

static void *ham_part_run(void *arg) {
    ham_part *p = (ham_part *)arg;
    ham_range(p->db, p->lo, p->hi, p->W, p->q, p->nq, p->k, p->dead, p->d, p->r, p->cnt);
    return NULL;
}

static inline void ih_offer(int32_t *hd, int64_t *hr, int64_t *cnt, int64_t k, int32_t d, int64_t r) {
    if (*cnt < k) { ih_push(hd, hr, (*cnt)++, d, r); }
    else if (WORSE(hd[0], hr[0], d, r)) { ih_replace_top(hd, hr, k, d, r); }
}

void hamming_knn(const uint64_t *db, int64_t n, int32_t W, const uint64_t *q, int64_t nq, int64_t k,
                 const uint8_t *dead, int32_t *out_d, int64_t *out_r, int64_t *out_cnt) {
    for (int64_t qi = 0; qi < nq; qi++) out_cnt[qi] = 0;
    int32_t T = dh_threads_for(n * W * 8 * nq, (n + BLOCK - 1) / BLOCK);
    ham_part parts[DH_MAX_THREADS];
    int32_t *pd = NULL;
    int64_t *pr = NULL, *pc = NULL;
    if (T > 1) {  /* parts 1..T-1 get their own heaps; part 0 fills the output */
        pd = (int32_t *)malloc((size_t)((T - 1) * nq * k) * sizeof(int32_t));
        pr = (int64_t *)malloc((size_t)((T - 1) * nq * k) * sizeof(int64_t));
        pc = (int64_t *)calloc((size_t)((T - 1) * nq), sizeof(int64_t));
        if (!pd || !pr || !pc) T = 1;
    }
    int64_t nb = (n + BLOCK - 1) / BLOCK;
    for (int32_t t = 0; t < T; t++) {
        int64_t blo, bhi;
        dh_part(nb, T, t, &blo, &bhi);
        ham_part p = {db, q, blo * BLOCK, bhi * BLOCK < n ? bhi * BLOCK : n, nq, k, W, dead,
                      t ? pd + (t - 1) * nq * k : out_d, t ? pr + (t - 1) * nq * k : out_r,
                      t ? pc + (t - 1) * nq : out_cnt};
        parts[t] = p;
    }
    dh_run(T, ham_part_run, parts, sizeof(ham_part));
    for (int32_t t = 1; t < T; t++)
        for (int64_t qi = 0; qi < nq; qi++)
            for (int64_t j = 0; j < parts[t].cnt[qi]; j++)
                ih_offer(out_d + qi * k, out_r + qi * k, &out_cnt[qi], k, parts[t].d[qi * k + j], parts[t].r[qi * k + j]);
    free(pd); free(pr); free(pc);
    for (int64_t qi = 0; qi < nq; qi++) ih_sort(out_d + qi * k, out_r + qi * k, out_cnt[qi]);
}


static inline int32_t ham_row(const uint64_t *words, int64_t row, int32_t W, const uint64_t *q) {
    const uint64_t *x = words + row * W;
    int32_t d = 0;
    for (int32_t w = 0; w < W; w++) d += (int32_t)__builtin_popcountll(x[w] ^ q[w]);
    return d;
}

/* Multi-index hashing k-NN (see distilhash.index.mih). Per query: out_cnt = number of results,
   or -1 when the query must fall back to the flat scan (too many candidates or probes). */
void mih_knn(const uint64_t *words, int64_t n_idx, int64_t n_total, int32_t W,
             int32_t m, const int32_t *fw, const int32_t *fs, const int32_t *fb,
             const int64_t *off_ptrs, const int64_t *ord_ptrs,
             int32_t S, const int64_t *mask_ptrs, const int64_t *mask_lens,
             const uint64_t *q, int64_t nq, int64_t k, const uint8_t *dead,
             uint32_t *visited, int64_t *epoch_io, int64_t max_cand,
             int32_t *out_d, int64_t *out_r, int64_t *out_cnt, int64_t *out_cand) {
    uint32_t epoch = (uint32_t)*epoch_io;
    for (int64_t qi = 0; qi < nq; qi++) {
        const uint64_t *qq = q + qi * W;
        int32_t *hd = out_d + qi * k;
        int64_t *hr = out_r + qi * k;
        int64_t cnt = 0, nfound = 0, nprobe = 0;
        int fallback = 0, done = 0;
        if (epoch == 0xFFFFFFFFu) { for (int64_t i = 0; i < n_idx; i++) visited[i] = 0; epoch = 0; }
        epoch++;
        for (int64_t i = n_idx; i < n_total; i++) {  /* rows added after the tables were built */
            if (dead && dead[i]) continue;
            ih_offer(hd, hr, &cnt, k, ham_row(words, i, W, qq), i);
        }
        for (int32_t s = 0; s <= S && !done && !fallback; s++) {
            for (int32_t j = 0; j < m; j++) {
                if (s <= fb[j]) {
                    int64_t ml = mask_lens[(int64_t)j * (S + 1) + s];
                    if (ml < 0) { fallback = 1; break; }
                    const uint32_t *masks = (const uint32_t *)(intptr_t)mask_ptrs[(int64_t)j * (S + 1) + s];
                    const int64_t *off = (const int64_t *)(intptr_t)off_ptrs[j];
                    const int32_t *ord = (const int32_t *)(intptr_t)ord_ptrs[j];
                    uint64_t fmask = fb[j] >= 64 ? ~0ULL : ((1ULL << fb[j]) - 1);
                    uint32_t key = (uint32_t)((qq[fw[j]] >> fs[j]) & fmask);
                    nprobe += ml;
                    for (int64_t t = 0; t < ml; t++) {
                        uint32_t kk = key ^ masks[t];
                        for (int64_t p = off[kk]; p < off[kk + 1]; p++) {
                            int64_t row = ord[p];
                            if (visited[row] == epoch) continue;
                            visited[row] = epoch;
                            nfound++;
                            if (dead && dead[row]) continue;
                            ih_offer(hd, hr, &cnt, k, ham_row(words, row, W, qq), row);
                        }
                    }
                }
                int64_t bound = (int64_t)m * s + j;  /* every item with d <= bound has been found */
                if (cnt == k && hd[0] <= bound) { done = 1; break; }
                if (nfound + nprobe > max_cand) { fallback = 1; break; }  /* a probe costs about a candidate */
            }
        }
        out_cand[qi] = nfound;
        if (fallback) { out_cnt[qi] = -1; continue; }
        ih_sort(hd, hr, cnt);
        out_cnt[qi] = cnt;
    }
    *epoch_io = epoch;
}

static inline float adc_one(const float *T, const uint8_t *c, int32_t M, int32_t K) {
    float acc = T[c[0]];
    for (int32_t m = 1; m < M; m++) acc += T[m * K + c[m]];
    return acc;
}

void pq_adc_knn(const uint8_t *codes, int64_t n, int32_t M, int32_t K, const float *tables, int64_t nq,
                int64_t k, int32_t negate, const uint8_t *dead, float *out_d, int64_t *out_r, int64_t *out_cnt) {
    for (int64_t qi = 0; qi < nq; qi++) out_cnt[qi] = 0;
    for (int64_t b0 = 0; b0 < n; b0 += BLOCK) {
        int64_t b1 = b0 + BLOCK < n ? b0 + BLOCK : n;
        for (int64_t qi = 0; qi < nq; qi++) {
            float *hd = out_d + qi * k;
            int64_t *hr = out_r + qi * k;
            int64_t cnt = out_cnt[qi];
            const float *T = tables + qi * (int64_t)M * K;
            float top = cnt == k ? hd[0] : __builtin_inff();
            int full = cnt == k;
            if (M == 8 && K == 256) {
                /* pass 1 (vectorisable, gathers): block distances and their minimum;
                   pass 2: only when the block can improve the heap */
                const float *T0 = T, *T1 = T + 256, *T2 = T + 512, *T3 = T + 768;
                const float *T4 = T + 1024, *T5 = T + 1280, *T6 = T + 1536, *T7 = T + 1792;
                const uint8_t *cb0 = codes + b0 * 8;
                float buf[BLOCK];
                int64_t len = b1 - b0;
                float bmin = __builtin_inff();
                for (int64_t j = 0; j < len; j++) {  /* scalar on purpose: gathers were slower */
                    uint64_t c;
                    memcpy(&c, cb0 + j * 8, 8);  /* one (unaligned-safe) load per code */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
                    c = __builtin_bswap64(c);
#endif
                    float acc = T0[c & 255];
                    acc += T1[(c >> 8) & 255]; acc += T2[(c >> 16) & 255]; acc += T3[(c >> 24) & 255];
                    acc += T4[(c >> 32) & 255]; acc += T5[(c >> 40) & 255]; acc += T6[(c >> 48) & 255];
                    acc += T7[c >> 56];
                    float d = negate ? -acc : acc;
                    buf[j] = d;
                    bmin = d < bmin ? d : bmin;
                }
                if (full && !(bmin < top)) { out_cnt[qi] = cnt; continue; }
                for (int64_t j = 0; j < len; j++) {
                    float d = buf[j];
                    int64_t i = b0 + j;
                    if (!full || d < top) {
                        if (dead && dead[i]) continue;
                        if (!full) { fh_push(hd, hr, cnt++, d, i); if (cnt == k) { full = 1; top = hd[0]; } }
                        else { fh_replace_top(hd, hr, k, d, i); top = hd[0]; }
                    }
                }
            } else {
                for (int64_t i = b0; i < b1; i++) {
                    float acc = adc_one(T, codes + i * M, M, K);
                    float d = negate ? -acc : acc;
                    if (!full || d < top) {
                        if (dead && dead[i]) continue;
                        if (!full) { fh_push(hd, hr, cnt++, d, i); if (cnt == k) { full = 1; top = hd[0]; } }
                        else { fh_replace_top(hd, hr, k, d, i); top = hd[0]; }
                    }
                }
            }
            out_cnt[qi] = cnt;
        }
    }
    for (int64_t qi = 0; qi < nq; qi++) fh_sort(out_d + qi * k, out_r + qi * k, out_cnt[qi]);
}

/* IVF: query qi scans only the position ranges [lo[qi, j], hi[qi, j]) of codes (its probed
   lists, stored contiguously). With rows == NULL the kept entries are positions (ties by
   position); with rows[n] (each position's row number) they are rows and ties break by row, so
   the result is the exact top-k by (distance, row) of the scanned codes in one pass, however many
   codes tie at the k-th distance. Same distances and heap as pq_adc_knn. */
void pq_adc_knn_ranges(const uint8_t *codes, int32_t M, int32_t K, const float *tables, int64_t nq,
                       const int64_t *lo, const int64_t *hi, int64_t nr, int64_t k, int32_t negate,
                       const int64_t *rows, float *out_d, int64_t *out_r, int64_t *out_cnt) {
    for (int64_t qi = 0; qi < nq; qi++) {
        float *hd = out_d + qi * k;
        int64_t *hr = out_r + qi * k;
        const float *T = tables + qi * (int64_t)M * K;
        int64_t cnt = 0;
        int full = 0;
        float top = __builtin_inff();
        int64_t top_r = INT64_MAX;
        for (int64_t j = 0; j < nr; j++) {
            for (int64_t i = lo[qi * nr + j]; i < hi[qi * nr + j]; i++) {
                float acc;
                if (M == 8 && K == 256) {  /* one 8-byte load per code, same summation order */
                    uint64_t c;
                    memcpy(&c, codes + i * 8, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
                    c = __builtin_bswap64(c);
#endif
                    acc = T[c & 255];
                    acc += T[256 + ((c >> 8) & 255)]; acc += T[512 + ((c >> 16) & 255)]; acc += T[768 + ((c >> 24) & 255)];
                    acc += T[1024 + ((c >> 32) & 255)]; acc += T[1280 + ((c >> 40) & 255)]; acc += T[1536 + ((c >> 48) & 255)];
                    acc += T[1792 + (c >> 56)];
                } else {
                    acc = adc_one(T, codes + i * M, M, K);
                }
                float d = negate ? -acc : acc;
                if (d > top) continue;
                int64_t r = rows ? rows[i] : i;
                if (!full) { fh_push(hd, hr, cnt++, d, r); if (cnt == k) { full = 1; top = hd[0]; top_r = hr[0]; } }
                else if (WORSE(top, top_r, d, r)) { fh_replace_top(hd, hr, k, d, r); top = hd[0]; top_r = hr[0]; }
            }
        }
        out_cnt[qi] = cnt;
        fh_sort(hd, hr, cnt);
    }
}
