/* Fast-scan ADC over PQ codes: 8-bit quantized lookup tables in SIMD registers, a short list kept
   by an exact bound, then exact float re-ranking (see distilhash.index.fastscan for the layout,
   the bound and the Python side).

   Per query, the distance contributions t[m][c] (T, or -T for the ip metric) are quantized with
   one step delta for all sub-spaces:
       q[m][c] = floor((t[m][c] - min_c t[m][c]) / delta),   delta = max_m range_m / qmax,
   so t[m][c] lies in [min_m + delta q, min_m + delta (q + 1)). The integer score
   Q(x) = sum_m q[m][x_m] (16-bit lanes; qmax <= 65535 / M keeps it from overflowing; 255 or 127)
   brackets the float distance D(x) (float32 sum in the order m = 0..M-1, error <= ferr):
       base + delta Q(x) - ferr <= D(x) < base + delta (Q(x) + M) + ferr.
   Hence if Q_k is the k-th smallest Q among live items, every item with D(x) <= D_k has
   Q(x) <= Q_k + slack, slack = M + 2 ferr / delta (+2 for rounding): those items are the short
   list, re-scored with the float tables and ranked by (distance, row) with the shared heap.

   8-bit codes over many blocks (AVX-512 VBMI, fs8_try_saturating): the step is chosen instead from
   the exact top-k of the first blocks so that the final threshold is at most 254, the entries
   clamp at 255 and the scores are saturating 8-bit sums (fs8_avx512.h): a score <= 254 is exact,
   and 255 only ever stands for "above the threshold". */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "par.h"

DEFINE_HEAP(fsh, float)

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define FS_X86 1
#include <immintrin.h>
#else
#define FS_X86 0
#endif

enum { FS_SCALAR = 1, FS_SSSE3 = 2, FS_AVX2 = 3, FS_AVX512 = 4, FS_AVX512_GENERIC = 5 };
#define FS_ALL 0x7fffffff
#define FS_CHUNK_BYTES (256 * 1024)

/* 4-bit: blocks of 32 items, Mp = M rounded up to even sub-spaces x 16 bytes; byte j of sub-space
   m holds item j (low nibble) and item j + 16 (high nibble). 8-bit: blocks of 64 items, M x 64
   bytes; byte j of sub-space m is the code of item j. Padding items/sub-spaces are code 0. */
static inline int32_t fs_mp(int32_t bits, int32_t M) { return bits == 4 ? (M + 1) & ~1 : M; }
static inline int64_t fs_bs(int32_t bits) { return bits == 4 ? 32 : 64; }
static inline int64_t fs_sub_bytes(int32_t bits) { return bits == 4 ? 16 : 64; }

int64_t fs_layout_bytes(int32_t bits, int64_t n, int32_t M) {
    int64_t bs = fs_bs(bits);
    return (n + bs - 1) / bs * fs_mp(bits, M) * fs_sub_bytes(bits);
}

/* Write codes uint8 [n, M] as items first .. first + n - 1 of the layout ``out`` (whose slots for
   those items must be zero). */
void fs_pack(int32_t bits, const uint8_t *codes, int64_t n, int32_t M, uint8_t *out, int64_t first) {
    int32_t Mp = fs_mp(bits, M);
    for (int64_t r = 0; r < n; r++) {
        int64_t i = first + r;
        if (bits == 4) {
            uint8_t *blk = out + (i >> 5) * Mp * 16;
            int j = (int)(i & 31);
            for (int32_t m = 0; m < M; m++) {
                uint8_t c = codes[r * M + m] & 15;
                if (j < 16) blk[m * 16 + j] |= c; else blk[m * 16 + j - 16] |= (uint8_t)(c << 4);
            }
        } else {
            uint8_t *blk = out + (i >> 6) * Mp * 64;
            for (int32_t m = 0; m < M; m++) blk[m * 64 + (i & 63)] = codes[r * M + m];
        }
    }
}

static inline uint8_t fs_code(int32_t bits, const uint8_t *blocks, int32_t Mp, int64_t row, int32_t m) {
    if (bits == 4) {
        const uint8_t *b = blocks + (row >> 5) * Mp * 16 + m * 16;
        int j = (int)(row & 31);
        return j < 16 ? (uint8_t)(b[j] & 15) : (uint8_t)(b[j - 16] >> 4);
    }
    return blocks[(row >> 6) * Mp * 64 + m * 64 + (row & 63)];
}

void fs_unpack(int32_t bits, const uint8_t *blocks, int64_t n, int32_t M, uint8_t *codes) {
    int32_t Mp = fs_mp(bits, M);
    for (int64_t i = 0; i < n; i++)
        for (int32_t m = 0; m < M; m++) codes[i * M + m] = fs_code(bits, blocks, Mp, i, m);
}

/* ---- per-query state: the k smallest scores (max-heap), the threshold, the short list ---- */
typedef struct {
    int64_t k, cnt;
    uint16_t *heap;
    int32_t slack, thr;
    int32_t sat;  /* 1: the table is for saturating 8-bit sums (fs8_avx512.h); scores > 254 unknown */
    int64_t *cr;
    uint16_t *cq;
    int64_t nc, cap;
    const uint8_t *dead;
    int err;
} fs_state;

static void qh_push(uint16_t *h, int64_t cnt, uint16_t v) {
    int64_t i = cnt;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (h[p] >= v) break;
        h[i] = h[p]; i = p;
    }
    h[i] = v;
}

static void qh_replace_top(uint16_t *h, int64_t k, uint16_t v) {
    int64_t i = 0;
    for (;;) {
        int64_t l = 2 * i + 1, c;
        if (l >= k) break;
        c = (l + 1 < k && h[l + 1] > h[l]) ? l + 1 : l;
        if (h[c] <= v) break;
        h[i] = h[c]; i = c;
    }
    h[i] = v;
}

static void fs_compact(fs_state *s) {
    int64_t w = 0;
    for (int64_t i = 0; i < s->nc; i++)
        if ((int32_t)s->cq[i] <= s->thr) { s->cr[w] = s->cr[i]; s->cq[w] = s->cq[i]; w++; }
    s->nc = w;
}

static void fs_keep(fs_state *s, uint16_t q, int64_t row) {
    if (s->nc == s->cap) {
        fs_compact(s);
        if (s->nc * 2 > s->cap) {  /* still more than half full: grow */
            int64_t cap = s->cap * 2;
            int64_t *cr = (int64_t *)realloc(s->cr, (size_t)cap * sizeof(int64_t));
            if (cr) s->cr = cr;
            uint16_t *cq = cr ? (uint16_t *)realloc(s->cq, (size_t)cap * sizeof(uint16_t)) : NULL;
            if (cq) s->cq = cq;
            if (!cr || !cq) { s->err = 1; return; }
            s->cap = cap;
        }
    }
    s->cr[s->nc] = row; s->cq[s->nc] = q; s->nc++;
}

static inline void fs_offer(fs_state *s, uint16_t q, int64_t row) {
    if ((int32_t)q > s->thr || (s->dead && s->dead[row]) || s->err) return;
    if (s->cnt < s->k) {
        qh_push(s->heap, s->cnt++, q);
        if (s->cnt == s->k) s->thr = (int32_t)s->heap[0] + s->slack;
    } else if (q < s->heap[0]) {
        qh_replace_top(s->heap, s->k, q);
        s->thr = (int32_t)s->heap[0] + s->slack;
    }
    fs_keep(s, q, row);
}

static inline uint16_t fs_thr16(const fs_state *s) { return (uint16_t)(s->thr > 65535 ? 65535 : s->thr); }

/* ---- block scans: scores of blocks [b0, b1) for one query, offering the items under thr ---- */
static void fs4_scan_scalar(const uint8_t *blocks, int64_t b0, int64_t b1, int64_t n, int32_t Mp,
                            const uint8_t *lut, fs_state *s) {
    uint16_t q[32];
    for (int64_t b = b0; b < b1; b++) {
        const uint8_t *blk = blocks + b * Mp * 16;
        memset(q, 0, sizeof q);
        for (int32_t m = 0; m < Mp; m++) {
            const uint8_t *t = lut + m * 16, *c = blk + m * 16;
            for (int j = 0; j < 16; j++) { q[j] += t[c[j] & 15]; q[j + 16] += t[c[j] >> 4]; }
        }
        for (int j = 0; j < 32 && b * 32 + j < n; j++)
            if ((int32_t)q[j] <= s->thr) fs_offer(s, q[j], b * 32 + j);
    }
}

static void fs8_scan_scalar(const uint8_t *blocks, int64_t b0, int64_t b1, int64_t n, int32_t M,
                            const uint8_t *lut, fs_state *s) {
    uint16_t q[64];
    for (int64_t b = b0; b < b1; b++) {
        const uint8_t *blk = blocks + b * M * 64;
        memset(q, 0, sizeof q);
        for (int32_t m = 0; m < M; m++) {
            const uint8_t *t = lut + m * 256, *c = blk + m * 64;
            for (int j = 0; j < 64; j++) q[j] += t[c[j]];
        }
        for (int j = 0; j < 64 && b * 64 + j < n; j++)
            if ((int32_t)q[j] <= s->thr) fs_offer(s, q[j], b * 64 + j);
    }
}

#if FS_X86
/* Bytes r are summed into 16-bit lanes without unpacking: a += r adds (even byte) + 256 (odd
   byte), o += r >> 8 adds the odd byte, so the even sum is a - (o << 8) (exact mod 2^16). */
__attribute__((target("ssse3")))
static void fs4_scan_ssse3(const uint8_t *blocks, int64_t b0, int64_t b1, int64_t n, int32_t Mp,
                           const uint8_t *lut, fs_state *s) {
    const __m128i m0f = _mm_set1_epi8(0x0f), zero = _mm_setzero_si128();
    uint16_t q[32];
    for (int64_t b = b0; b < b1; b++) {
        const uint8_t *blk = blocks + b * Mp * 16;
        __m128i a0 = zero, a1 = zero, a2 = zero, a3 = zero;
        for (int32_t m = 0; m < Mp; m++) {
            __m128i t = _mm_loadu_si128((const __m128i *)(lut + m * 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(blk + m * 16));
            __m128i rl = _mm_shuffle_epi8(t, _mm_and_si128(c, m0f));
            __m128i rh = _mm_shuffle_epi8(t, _mm_and_si128(_mm_srli_epi16(c, 4), m0f));
            a0 = _mm_add_epi16(a0, rl); a1 = _mm_add_epi16(a1, _mm_srli_epi16(rl, 8));
            a2 = _mm_add_epi16(a2, rh); a3 = _mm_add_epi16(a3, _mm_srli_epi16(rh, 8));
        }
        a0 = _mm_sub_epi16(a0, _mm_slli_epi16(a1, 8));
        a2 = _mm_sub_epi16(a2, _mm_slli_epi16(a3, 8));
        __m128i q0 = _mm_unpacklo_epi16(a0, a1), q1 = _mm_unpackhi_epi16(a0, a1);
        __m128i q2 = _mm_unpacklo_epi16(a2, a3), q3 = _mm_unpackhi_epi16(a2, a3);
        __m128i tv = _mm_set1_epi16((short)fs_thr16(s));
        /* q <= thr  <=>  saturating q - thr == 0 */
        __m128i p01 = _mm_packs_epi16(_mm_cmpeq_epi16(_mm_subs_epu16(q0, tv), zero), _mm_cmpeq_epi16(_mm_subs_epu16(q1, tv), zero));
        __m128i p23 = _mm_packs_epi16(_mm_cmpeq_epi16(_mm_subs_epu16(q2, tv), zero), _mm_cmpeq_epi16(_mm_subs_epu16(q3, tv), zero));
        uint32_t mk = (uint32_t)_mm_movemask_epi8(p01) | ((uint32_t)_mm_movemask_epi8(p23) << 16);
        if (!mk) continue;
        _mm_storeu_si128((__m128i *)q, q0); _mm_storeu_si128((__m128i *)(q + 8), q1);
        _mm_storeu_si128((__m128i *)(q + 16), q2); _mm_storeu_si128((__m128i *)(q + 24), q3);
        while (mk) {
            int j = __builtin_ctz(mk);
            mk &= mk - 1;
            if (b * 32 + j < n) fs_offer(s, q[j], b * 32 + j);
        }
    }
}

/* Look up ``pairs`` (1 or 2) pairs of sub-spaces (lane 0: the first of a pair, lane 1: the
   second) of a 32-item block, add two pairs' bytes in 8 bits (tables of <= 127), then add into
   the four 16-bit accumulators (low/high-nibble items, even/odd bytes). */
__attribute__((target("avx2")))
static inline void fs4_pair_avx2(const uint8_t *lut, const uint8_t *blk, int pairs, __m256i *a) {
    const __m256i m0f = _mm256_set1_epi8(0x0f);
    __m256i t = _mm256_loadu_si256((const __m256i *)lut);
    __m256i c = _mm256_loadu_si256((const __m256i *)blk);
    __m256i rl = _mm256_shuffle_epi8(t, _mm256_and_si256(c, m0f));
    __m256i rh = _mm256_shuffle_epi8(t, _mm256_and_si256(_mm256_srli_epi16(c, 4), m0f));
    if (pairs == 2) {
        __m256i t1 = _mm256_loadu_si256((const __m256i *)(lut + 32));
        __m256i c1 = _mm256_loadu_si256((const __m256i *)(blk + 32));
        rl = _mm256_add_epi8(rl, _mm256_shuffle_epi8(t1, _mm256_and_si256(c1, m0f)));
        rh = _mm256_add_epi8(rh, _mm256_shuffle_epi8(t1, _mm256_and_si256(_mm256_srli_epi16(c1, 4), m0f)));
    }
    a[0] = _mm256_add_epi16(a[0], rl); a[1] = _mm256_add_epi16(a[1], _mm256_srli_epi16(rl, 8));
    a[2] = _mm256_add_epi16(a[2], rh); a[3] = _mm256_add_epi16(a[3], _mm256_srli_epi16(rh, 8));
}

/* Two lanes of 16-bit sums (lane 0: even sub-spaces, lane 1: odd) of the low- and high-nibble
   items -> the scores of items 0-15 (*q0) and 16-31 (*q1). */
__attribute__((target("avx2")))
static inline void fs4_finish_avx2(const __m256i *a, __m256i *q0, __m256i *q1) {
    __m256i a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
    a0 = _mm256_sub_epi16(a0, _mm256_slli_epi16(a1, 8));
    a2 = _mm256_sub_epi16(a2, _mm256_slli_epi16(a3, 8));
    __m128i e0 = _mm_add_epi16(_mm256_castsi256_si128(a0), _mm256_extracti128_si256(a0, 1));
    __m128i o0 = _mm_add_epi16(_mm256_castsi256_si128(a1), _mm256_extracti128_si256(a1, 1));
    __m128i e1 = _mm_add_epi16(_mm256_castsi256_si128(a2), _mm256_extracti128_si256(a2, 1));
    __m128i o1 = _mm_add_epi16(_mm256_castsi256_si128(a3), _mm256_extracti128_si256(a3, 1));
    *q0 = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi16(e0, o0)), _mm_unpackhi_epi16(e0, o0), 1);
    *q1 = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi16(e1, o1)), _mm_unpackhi_epi16(e1, o1), 1);
}

__attribute__((target("avx2")))
static void fs4_scan_avx2(const uint8_t *blocks, int64_t b0, int64_t b1, int64_t n, int32_t Mp,
                          const uint8_t *lut, fs_state *s) {
    const __m256i zero = _mm256_setzero_si256();
    uint16_t q[32];
    for (int64_t b = b0; b < b1; b++) {
        const uint8_t *blk = blocks + b * Mp * 16;
        __m256i a[4] = {zero, zero, zero, zero};
        for (int32_t m = 0; m < Mp; m += 4) fs4_pair_avx2(lut + m * 16, blk + m * 16, m + 4 <= Mp ? 2 : 1, a);
        __m256i q0, q1;
        fs4_finish_avx2(a, &q0, &q1);
        __m256i tv = _mm256_set1_epi16((short)fs_thr16(s));
        __m256i p0 = _mm256_cmpeq_epi16(_mm256_subs_epu16(q0, tv), zero);
        __m256i p1 = _mm256_cmpeq_epi16(_mm256_subs_epu16(q1, tv), zero);
        /* packs works per 128-bit lane (quads: items 0-7, 16-23, 8-15, 24-31); 0xD8 restores the order */
        uint32_t mk = (uint32_t)_mm256_movemask_epi8(_mm256_permute4x64_epi64(_mm256_packs_epi16(p0, p1), 0xD8));
        if (!mk) continue;
        _mm256_storeu_si256((__m256i *)q, q0);
        _mm256_storeu_si256((__m256i *)(q + 16), q1);
        while (mk) {
            int j = __builtin_ctz(mk);
            mk &= mk - 1;
            if (b * 32 + j < n) fs_offer(s, q[j], b * 32 + j);
        }
    }
}

#include "fs4_avx512.h"
#include "fs8_avx512.h"
#endif

typedef void (*fs_scan_fn)(const uint8_t *, int64_t, int64_t, int64_t, int32_t, const uint8_t *, fs_state *);

static fs_scan_fn fs_kernel(int32_t bits, int32_t impl) {
#if FS_X86
    if (bits == 4 && impl == FS_SSSE3) return fs4_scan_ssse3;
    if (bits == 4 && impl == FS_AVX2) return fs4_scan_avx2;
    if (bits == 4 && impl == FS_AVX512) return fs4_scan_avx512;
    if (bits == 8 && impl == FS_AVX512) return fs8_scan_avx512;
    if (bits == 8 && impl == FS_AVX512_GENERIC) return fs8_scan_avx512_generic;
#endif
    if (impl == FS_SCALAR) return bits == 4 ? fs4_scan_scalar : fs8_scan_scalar;
    return NULL;
}

/* 1 when this CPU runs kernel ``impl`` for ``bits``-bit codes. */
int32_t fs_supported(int32_t bits, int32_t impl) {
    if (bits != 4 && bits != 8) return 0;
    if (impl == FS_SCALAR) return 1;
#if FS_X86
    __builtin_cpu_init();
    if (bits == 4 && impl == FS_SSSE3) return __builtin_cpu_supports("ssse3") ? 1 : 0;
    if (bits == 4 && impl == FS_AVX2) return __builtin_cpu_supports("avx2") ? 1 : 0;
    if (bits == 4 && impl == FS_AVX512) return (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) ? 1 : 0;
    if (bits == 8 && (impl == FS_AVX512 || impl == FS_AVX512_GENERIC))
        return (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi")) ? 1 : 0;
#endif
    return 0;
}

/* Largest quantized table entry a kernel takes: 255, or 127 for the 4-bit AVX2 / AVX-512 kernels
   (they add two entries in 8 bits); and at most 65535 / Mp so a 16-bit score never overflows. */
static int32_t fs_qmax(int32_t bits, int32_t impl, int32_t Mp) {
    int32_t q = (bits == 4 && (impl == FS_AVX512 || impl == FS_AVX2)) ? 127 : 255;
    int32_t cap = 65535 / (Mp > 0 ? Mp : 1);
    return q < cap ? q : cap;
}

/* One query's float tables (negated for ip): per sub-space minimum mins[m], the largest range,
   their sum base, and ferr, the float32 rounding bound of a distance (module comment). */
typedef struct { double mins[256], maxr, base, ferr; } fs_stats;

static void fs_table_stats(const float *T, int32_t M, int32_t K, int32_t negate, fs_stats *st) {
    double absum = 0.0;
    st->maxr = 0.0; st->base = 0.0;
    for (int32_t m = 0; m < M; m++) {
        double mn = INFINITY, mx = -INFINITY, am = 0.0;
        for (int32_t c = 0; c < K; c++) {
            double v = negate ? -(double)T[m * K + c] : (double)T[m * K + c];
            mn = v < mn ? v : mn; mx = v > mx ? v : mx;
            am = fabs(v) > am ? fabs(v) : am;
        }
        st->mins[m] = mn;
        st->base += mn;
        st->maxr = mx - mn > st->maxr ? mx - mn : st->maxr;
        absum += am;
    }
    st->ferr = M * ldexp(1.0, -23) * absum + absum * 1e-12;
}

/* Quantize with step delta, entries clamped at qmax: lut uint8 [Mp, K] (padding rows zero);
   returns the slack in steps, 65536 when there is no usable bound. */
static int32_t fs_quantize_step(const float *T, int32_t M, int32_t Mp, int32_t K, int32_t negate, int32_t qmax,
                                double delta, const fs_stats *st, uint8_t *lut) {
    memset(lut, 0, (size_t)Mp * K);
    for (int32_t m = 0; m < M; m++)
        for (int32_t c = 0; c < K; c++) {
            double v = negate ? -(double)T[m * K + c] : (double)T[m * K + c];
            double q = floor((v - st->mins[m]) / delta);
            lut[m * K + c] = (uint8_t)(q < 0 ? 0 : (q > qmax ? qmax : q));
        }
    double slack = M + 2.0 * st->ferr / delta + 2.0;
    if (!(slack < 65536.0) || !isfinite(delta)) return 65536;  /* no usable bound: keep everything */
    return (int32_t)ceil(slack);
}

/* Quantize one query's tables (module comment) with delta = largest range / qmax; returns slack. */
static int32_t fs_quantize(const float *T, int32_t M, int32_t Mp, int32_t K, int32_t negate, int32_t qmax, uint8_t *lut) {
    fs_stats st;
    fs_table_stats(T, M, K, negate, &st);
    return fs_quantize_step(T, M, Mp, K, negate, qmax, st.maxr > 0.0 ? st.maxr / qmax : 1.0, &st, lut);
}

/* Re-score state s's short list (scores <= its final threshold) with the float tables T into the
   (distance, row) max-heap hd/hr of k entries holding *cnt; adds the items re-scored to *ncand. */
static void fs_rerank(int32_t bits, const uint8_t *blocks, int32_t Mp, int32_t M, int32_t K, const float *T,
                      int32_t negate, const fs_state *s, int64_t k, float *hd, int64_t *hr, int64_t *cnt, int64_t *ncand) {
    for (int64_t i = 0; i < s->nc; i++) {
        if ((int32_t)s->cq[i] > s->thr) continue;
        int64_t row = s->cr[i];
        float acc = T[fs_code(bits, blocks, Mp, row, 0)];
        for (int32_t m = 1; m < M; m++) acc += T[m * K + fs_code(bits, blocks, Mp, row, m)];
        float d = negate ? -acc : acc;
        (*ncand)++;
        if (*cnt < k) fsh_push(hd, hr, (*cnt)++, d, row);
        else if (WORSE(hd[0], hr[0], d, row)) fsh_replace_top(hd, hr, k, d, row);
    }
}

static int fs_state_init(fs_state *s, int64_t k, uint16_t *heap, const uint8_t *dead) {
    s->k = k; s->heap = heap; s->thr = FS_ALL; s->dead = dead;
    s->cap = 4 * k + 1024;
    s->cr = (int64_t *)malloc((size_t)s->cap * sizeof(int64_t));
    s->cq = (uint16_t *)malloc((size_t)s->cap * sizeof(uint16_t));
    return s->cr && s->cq ? 0 : -1;
}

#define FS8_PRE_BLOCKS 64       /* blocks the saturating scale is chosen from (at least 4 k items) */
#define FS8_SAT_RATIO 16        /* ... when the codes span at least this many times as many blocks */
#define FS8_SAT_MIN_BLOCKS 4096 /* ... and 256K items: below, the ~4 us of choosing it cost more than it saves */

/* Switch query T's 8-bit scan to saturating 8-bit sums when it is safe and worth it: the exact
   top-k of the first P blocks (16-bit scan of lut, re-ranked) gives D1 >= the final k-th distance;
   with step delta = (D1 - base + 3 ferr) / (251 - 2 M) every item with D <= D1 scores
   Q <= (D1 + ferr - base) / delta + M (rounding), so the final threshold Q_k + slack, slack =
   ceil(M + 2 ferr / delta + 2), stays <= 254 (checked below)
   and a score of 255 (clamped or saturated) is never needed. Rewrites lut and sets s->sat and
   s->slack on success; leaves them otherwise. Returns -1 when memory ran out. */
static int32_t fs8_try_saturating(fs_scan_fn scan, const uint8_t *blocks, int64_t n, int64_t nb, int32_t M,
                                  const float *T, int32_t negate, int64_t k, const uint8_t *dead, uint8_t *lut,
                                  fs_state *s) {
    int64_t P = (4 * k + 63) / 64 > FS8_PRE_BLOCKS ? (4 * k + 63) / 64 : FS8_PRE_BLOCKS;
    if (M > 64 || nb < FS8_SAT_RATIO * P || nb < FS8_SAT_MIN_BLOCKS) return 0;
    fs_state pre = {0};
    pre.slack = s->slack;
    uint16_t *heap = (uint16_t *)malloc((size_t)k * sizeof(uint16_t));
    float *hd = (float *)malloc((size_t)k * sizeof(float));
    int64_t *hr = (int64_t *)malloc((size_t)k * sizeof(int64_t));
    int32_t rc = (!heap || !hd || !hr || fs_state_init(&pre, k, heap, dead)) ? -1 : 0;
    if (rc == 0) {
        scan(blocks, 0, P, n, M, lut, &pre);
        int64_t cnt = 0, ncand = 0;
        if (pre.err) rc = -1;
        else fs_rerank(8, blocks, M, M, 256, T, negate, &pre, k, hd, hr, &cnt, &ncand);
        if (rc == 0 && cnt == k) {
            fs_stats st;
            fs_table_stats(T, M, 256, negate, &st);
            double excess = (double)hd[0] - st.base;  /* hd[0]: the k-th smallest distance */
            double delta = (excess + 3.0 * st.ferr) / (251.0 - 2.0 * M);
            double qk = floor((excess + st.ferr) / delta) + M;
            double slack = M + 2.0 * st.ferr / delta + 2.0;
            if (delta > 0.0 && isfinite(delta) && qk + ceil(slack) <= 254.0) {
                s->slack = fs_quantize_step(T, M, M, 256, negate, 255, delta, &st, lut);
                s->sat = 1;
            }
        }
    }
    free(pre.cr); free(pre.cq); free(heap); free(hd); free(hr);
    return rc;
}

typedef struct {
    fs_scan_fn scan;
    const uint8_t *blocks, *luts;
    int64_t b0, b1, n, nq, chunk, lut_bytes;
    int32_t Mp;
    fs_state *st;
} fs_part;

static void *fs_part_run(void *arg) {
    fs_part *p = (fs_part *)arg;
    for (int64_t c0 = p->b0; c0 < p->b1; c0 += p->chunk) {  /* a chunk of blocks stays in cache for the batch */
        int64_t c1 = c0 + p->chunk < p->b1 ? c0 + p->chunk : p->b1;
        for (int64_t qi = 0; qi < p->nq; qi++) p->scan(p->blocks, c0, c1, p->n, p->Mp, p->luts + qi * p->lut_bytes, p->st + qi);
    }
    return NULL;
}

/* Exact top-k by (ADC distance, row) through the quantized scan; see the module comment.
   tables float32 [nq, M, K] (K = 16 for bits 4, 256 for bits 8); out_cand = short-list size,
   out_sat = 1 where the query's scan used saturating 8-bit sums (fs8_try_saturating).
   With several threads (par.h) each scans a contiguous part of the blocks with its own short
   lists; the union of the short lists holds every item of the exact top-k (a part's threshold is
   never below the whole scan's), so the re-ranked result is the single-threaded one.
   Returns 0, or -1 when memory ran out, -2 for an unsupported kernel or shape. */
int32_t fs_knn(int32_t bits, const uint8_t *blocks, int64_t n, int32_t M, const float *tables, int64_t nq, int64_t k,
               int32_t negate, const uint8_t *dead, int32_t impl, float *out_d, int64_t *out_r, int64_t *out_cnt,
               int64_t *out_cand, int64_t *out_sat) {
    fs_scan_fn scan = fs_kernel(bits, impl);
    if (!scan || !fs_supported(bits, impl) || M <= 0 || M > 256 || k <= 0) return -2;
    int32_t K = bits == 4 ? 16 : 256, Mp = fs_mp(bits, M);
    int64_t bs = fs_bs(bits), nb = (n + bs - 1) / bs, blk_bytes = Mp * fs_sub_bytes(bits);
    int64_t chunk = FS_CHUNK_BYTES / blk_bytes > 0 ? FS_CHUNK_BYTES / blk_bytes : 1;
    int32_t T = dh_threads_for(nb * blk_bytes * nq, nb);
    int64_t ns = T * nq;  /* states: part t, query qi at t * nq + qi */
    uint8_t *luts = (uint8_t *)malloc((size_t)(nq * Mp * K + 1));
    fs_state *st = (fs_state *)calloc((size_t)(ns + 1), sizeof(fs_state));
    uint16_t *heaps = (uint16_t *)malloc((size_t)(ns * k + 1) * sizeof(uint16_t));
    fs_part parts[DH_MAX_THREADS];
    int32_t rc = 0;
    if (!luts || !st || !heaps) { rc = -1; goto done; }
    for (int64_t i = 0; i < ns; i++) {
        fs_state *s = st + i;
        int64_t qi = i % nq;
        const float *T_ = tables + qi * (int64_t)M * K;
        if (i < nq) {
            s->slack = fs_quantize(T_, M, Mp, K, negate, fs_qmax(bits, impl, Mp), luts + qi * Mp * K);
            if (bits == 8 && impl == FS_AVX512 && fs8_try_saturating(scan, blocks, n, nb, M, T_, negate, k, dead,
                                                                    luts + qi * Mp * K, s)) { rc = -1; goto done; }
        } else {
            s->slack = st[qi].slack;
            s->sat = st[qi].sat;
        }
        if (fs_state_init(s, k, heaps + i * k, dead)) { rc = -1; goto done; }
    }
    for (int32_t t = 0; t < T; t++) {
        fs_part p = {scan, blocks, luts, 0, 0, n, nq, chunk, (int64_t)Mp * K, Mp, st + t * nq};
        dh_part(nb, T, t, &p.b0, &p.b1);
        parts[t] = p;
    }
    dh_run(T, fs_part_run, parts, sizeof(fs_part));
    for (int64_t i = 0; i < ns; i++)
        if (st[i].err) { rc = -1; goto done; }
    for (int64_t qi = 0; qi < nq; qi++) {
        const float *T_ = tables + qi * (int64_t)M * K;
        float *hd = out_d + qi * k;
        int64_t *hr = out_r + qi * k;
        int64_t cnt = 0, ncand = 0;
        for (int32_t t = 0; t < T; t++) fs_rerank(bits, blocks, Mp, M, K, T_, negate, st + t * nq + qi, k, hd, hr, &cnt, &ncand);
        fsh_sort(hd, hr, cnt);
        out_cnt[qi] = cnt;
        out_cand[qi] = ncand;
        out_sat[qi] = st[qi].sat;
    }
done:
    if (st)
        for (int64_t i = 0; i < ns; i++) { free(st[i].cr); free(st[i].cq); }
    free(st); free(heaps); free(luts);
    return rc;
}
