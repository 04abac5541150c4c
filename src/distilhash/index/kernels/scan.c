/* Exact flat scans (see distilhash.index.native): Hamming top-k, multi-index hashing and the
   float32 ADC top-k over PQ codes. Single-threaded; blocked so a block of codes stays in cache
   while every query of the batch scans it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 4096

#include "heap.h"

DEFINE_HEAP(ih, int32_t)
DEFINE_HEAP(fh, float)

void hamming_knn(const uint64_t *db, int64_t n, int32_t W, const uint64_t *q, int64_t nq, int64_t k,
                 const uint8_t *dead, int32_t *out_d, int64_t *out_r, int64_t *out_cnt) {
    for (int64_t qi = 0; qi < nq; qi++) out_cnt[qi] = 0;
    for (int64_t b0 = 0; b0 < n; b0 += BLOCK) {
        int64_t b1 = b0 + BLOCK < n ? b0 + BLOCK : n;
        for (int64_t qi = 0; qi < nq; qi++) {
            int32_t *hd = out_d + qi * k;
            int64_t *hr = out_r + qi * k;
            int64_t cnt = out_cnt[qi];
            const uint64_t *qq = q + qi * W;
            int32_t top = cnt == k ? hd[0] : INT32_MAX;
            if (W == 1) {
                /* two passes over the cached block: vectorisable popcounts, then a filter */
                uint64_t q0 = qq[0];
                int32_t buf[BLOCK];
                const uint64_t *blk = db + b0;
                int64_t len = b1 - b0;
                int32_t bmin = INT32_MAX;
                for (int64_t j = 0; j < len; j++) {
                    int32_t d = (int32_t)__builtin_popcountll(blk[j] ^ q0);
                    buf[j] = d;
                    bmin = d < bmin ? d : bmin;
                }
                if (bmin >= top) { out_cnt[qi] = cnt; continue; }  /* nothing in this block can enter */
                for (int64_t j = 0; j < len; j++) {
                    int32_t d = buf[j];
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
    for (int64_t qi = 0; qi < nq; qi++) ih_sort(out_d + qi * k, out_r + qi * k, out_cnt[qi]);
}


static inline int32_t ham_row(const uint64_t *words, int64_t row, int32_t W, const uint64_t *q) {
    const uint64_t *x = words + row * W;
    int32_t d = 0;
    for (int32_t w = 0; w < W; w++) d += (int32_t)__builtin_popcountll(x[w] ^ q[w]);
    return d;
}

static inline void ih_offer(int32_t *hd, int64_t *hr, int64_t *cnt, int64_t k, int32_t d, int64_t r) {
    if (*cnt < k) { ih_push(hd, hr, (*cnt)++, d, r); }
    else if (WORSE(hd[0], hr[0], d, r)) { ih_replace_top(hd, hr, k, d, r); }
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
