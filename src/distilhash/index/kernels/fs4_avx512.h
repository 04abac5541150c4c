/* The 4-bit fast-scan kernels for AVX-512 BW (included by fastscan.c, which defines fs_state,
   fs_offer and fs_thr16; the byte-sum trick is described above fs4_scan_ssse3 there). */
#ifndef DISTILHASH_FS4_AVX512_H
#define DISTILHASH_FS4_AVX512_H

/* 8 sub-spaces per step: two 512-bit shuffles (4 sub-spaces each, one per 128-bit lane) whose
   bytes are added in 8 bits before widening (the tables of this kernel have qmax <= 127, so two
   entries fit a byte); missing sub-spaces at the end are loaded as zero (masked loads). */
static inline __mmask64 fs4_quad_mask(int32_t m, int32_t Mp) {
    return m + 4 <= Mp ? ~(__mmask64)0 : (m + 2 <= Mp ? (__mmask64)0xFFFFFFFFu : 0);
}

__attribute__((target("avx512f,avx512bw")))
static inline void fs4_acc_avx512(const uint8_t *lut, const uint8_t *blk, int32_t Mp, __m512i *a) {
    const __m512i m0f = _mm512_set1_epi8(0x0f);
    for (int32_t m = 0; m < Mp; m += 8) {
        __mmask64 k0 = fs4_quad_mask(m, Mp), k1 = fs4_quad_mask(m + 4, Mp);
        __m512i t0 = _mm512_maskz_loadu_epi8(k0, lut + m * 16), c0 = _mm512_maskz_loadu_epi8(k0, blk + m * 16);
        __m512i t1 = _mm512_maskz_loadu_epi8(k1, lut + m * 16 + 64), c1 = _mm512_maskz_loadu_epi8(k1, blk + m * 16 + 64);
        __m512i rl = _mm512_add_epi8(_mm512_shuffle_epi8(t0, _mm512_and_si512(c0, m0f)),
                                     _mm512_shuffle_epi8(t1, _mm512_and_si512(c1, m0f)));
        __m512i rh = _mm512_add_epi8(_mm512_shuffle_epi8(t0, _mm512_and_si512(_mm512_srli_epi16(c0, 4), m0f)),
                                     _mm512_shuffle_epi8(t1, _mm512_and_si512(_mm512_srli_epi16(c1, 4), m0f)));
        a[0] = _mm512_add_epi16(a[0], rl); a[1] = _mm512_add_epi16(a[1], _mm512_srli_epi16(rl, 8));
        a[2] = _mm512_add_epi16(a[2], rh); a[3] = _mm512_add_epi16(a[3], _mm512_srli_epi16(rh, 8));
    }
}

/* Two blocks per step so that one lane-folding epilogue serves 64 items: after folding, E holds
   the even items and O the odd items as [block A lo, block B lo, block A hi, block B hi] lanes
   (lo: items 0-15, hi: items 16-31; 8 x 16-bit per lane). A lone last block runs with B = 0.
   A/B: the four accumulators of fs4_acc_avx512 for blocks b and b + 1. */
__attribute__((target("avx512f,avx512bw"), always_inline))
static inline void fs4_fold_offer_avx512(const __m512i *A, const __m512i *B, int64_t b, int pair, int64_t n, fs_state *s) {
    __m512i S[4];
    for (int t = 0; t < 4; t++)  /* [A l0+l2, A l1+l3, B l0+l2, B l1+l3] */
        S[t] = _mm512_add_epi16(_mm512_shuffle_i64x2(A[t], B[t], 0x44), _mm512_shuffle_i64x2(A[t], B[t], 0xEE));
    __m512i V02 = _mm512_add_epi16(_mm512_shuffle_i64x2(S[0], S[2], 0x88), _mm512_shuffle_i64x2(S[0], S[2], 0xDD));
    __m512i V13 = _mm512_add_epi16(_mm512_shuffle_i64x2(S[1], S[3], 0x88), _mm512_shuffle_i64x2(S[1], S[3], 0xDD));
    __m512i E = _mm512_sub_epi16(V02, _mm512_slli_epi16(V13, 8));
    __m512i tv = _mm512_set1_epi16((short)fs_thr16(s));
    uint32_t me = (uint32_t)_mm512_cmple_epu16_mask(E, tv), mo = (uint32_t)_mm512_cmple_epu16_mask(V13, tv);
    if (!pair) { me &= 0x00FF00FFu; mo &= 0x00FF00FFu; }  /* lanes 1 and 3 belong to the absent block */
    if (__builtin_expect(!(me | mo), 1)) return;
    uint16_t qe[32], qo[32];
    _mm512_storeu_si512((void *)qe, E);
    _mm512_storeu_si512((void *)qo, V13);
    for (int odd = 0; odd < 2; odd++) {
        uint32_t mk = odd ? mo : me;
        const uint16_t *q = odd ? qo : qe;
        while (mk) {
            int i = __builtin_ctz(mk);
            mk &= mk - 1;
            int lane = i >> 3;
            int64_t row = (b + (lane & 1)) * 32 + ((lane >> 1) ? 16 : 0) + 2 * (i & 7) + odd;
            if (row < n) fs_offer(s, q[i], row);
        }
    }
}

/* M = 16 (64-bit codes), the common case: the whole table (4 registers) stays in registers, the
   loads are unmasked, and two sub-spaces per 128-bit lane are added in 8 bits (tables of <= 127). */
__attribute__((target("avx512f,avx512bw"), always_inline))
static inline void fs4_acc16_avx512(const __m512i *t, const uint8_t *blk, __m512i *a) {
    const __m512i m0f = _mm512_set1_epi8(0x0f);
    __m512i r[4];
    for (int j = 0; j < 4; j += 2) {
        __m512i c0 = _mm512_loadu_si512((const void *)(blk + 64 * j)), c1 = _mm512_loadu_si512((const void *)(blk + 64 * j + 64));
        r[j] = _mm512_add_epi8(_mm512_shuffle_epi8(t[j], _mm512_and_si512(c0, m0f)),
                               _mm512_shuffle_epi8(t[j + 1], _mm512_and_si512(c1, m0f)));
        r[j + 1] = _mm512_add_epi8(_mm512_shuffle_epi8(t[j], _mm512_and_si512(_mm512_srli_epi16(c0, 4), m0f)),
                                   _mm512_shuffle_epi8(t[j + 1], _mm512_and_si512(_mm512_srli_epi16(c1, 4), m0f)));
    }
    a[0] = _mm512_add_epi16(r[0], r[2]); a[1] = _mm512_add_epi16(_mm512_srli_epi16(r[0], 8), _mm512_srli_epi16(r[2], 8));
    a[2] = _mm512_add_epi16(r[1], r[3]); a[3] = _mm512_add_epi16(_mm512_srli_epi16(r[1], 8), _mm512_srli_epi16(r[3], 8));
}

__attribute__((target("avx512f,avx512bw")))
static void fs4_scan16_avx512(const uint8_t *blocks, int64_t b0, int64_t b1, int64_t n, const uint8_t *lut, fs_state *s) {
    const __m512i zero = _mm512_setzero_si512();
    __m512i t[4];
    for (int j = 0; j < 4; j++) t[j] = _mm512_loadu_si512((const void *)(lut + 64 * j));
    for (int64_t b = b0; b < b1; b += 2) {
        int pair = b + 1 < b1;
        __m512i A[4], B[4] = {zero, zero, zero, zero};
        fs4_acc16_avx512(t, blocks + b * 256, A);
        if (pair) fs4_acc16_avx512(t, blocks + (b + 1) * 256, B);
        fs4_fold_offer_avx512(A, B, b, pair, n, s);
    }
}

__attribute__((target("avx512f,avx512bw")))
static void fs4_scan_avx512(const uint8_t *blocks, int64_t b0, int64_t b1, int64_t n, int32_t Mp,
                            const uint8_t *lut, fs_state *s) {
    if (Mp == 16) { fs4_scan16_avx512(blocks, b0, b1, n, lut, s); return; }
    const __m512i zero = _mm512_setzero_si512();
    for (int64_t b = b0; b < b1; b += 2) {
        int pair = b + 1 < b1;
        __m512i A[4] = {zero, zero, zero, zero}, B[4] = {zero, zero, zero, zero};
        fs4_acc_avx512(lut, blocks + b * Mp * 16, Mp, A);
        if (pair) fs4_acc_avx512(lut, blocks + (b + 1) * Mp * 16, Mp, B);
        fs4_fold_offer_avx512(A, B, b, pair, n, s);
    }
}

#endif
