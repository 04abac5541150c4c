/* The 8-bit fast-scan kernels for AVX-512 VBMI (included by fastscan.c, which defines fs_state,
   fs_offer and fs_thr16). A 256-entry byte table is four 64-byte registers; vpermt2b looks up 128
   entries from two of them by the low 7 bits of 64 codes, the top bit picks between the halves.

   Two score widths, chosen per query by fs_knn through fs_state.sat:
   * 16-bit sums (sat = 0): tables of entries <= 255, every item's score exact;
   * saturating 8-bit sums (sat = 1): tables quantized with a finer step chosen from the exact
     top-k of the first blocks so that the final threshold is at most 254 (fs_knn); an entry
     clamps at 255 and a sum saturates at 255, so a score <= 254 is exact and the kernel offers
     only scores <= min(thr, 254). It adds 64 codes' bytes with one instruction instead of three.

   The bodies are inlined with M a compile-time constant for M = 4, 8 and 16 (32-, 64- and 128-bit
   codes): the unrolled loop issues a block's M code loads back to back, which from DRAM reads
   about twice as fast as the loop over a run-time M (fs8_scan_avx512_generic, the 16-bit kernel
   before issue #26; same results). */
#ifndef DISTILHASH_FS8_AVX512_H
#define DISTILHASH_FS8_AVX512_H

/* The 64 bytes of sub-space table t (256 entries) at the codes idx. */
__attribute__((target("avx512f,avx512bw,avx512vbmi"), always_inline))
static inline __m512i fs8_lookup(const uint8_t *t, __m512i idx) {
    __m512i lo = _mm512_permutex2var_epi8(_mm512_loadu_si512((const void *)t), idx, _mm512_loadu_si512((const void *)(t + 64)));
    __m512i hi = _mm512_permutex2var_epi8(_mm512_loadu_si512((const void *)(t + 128)), idx, _mm512_loadu_si512((const void *)(t + 192)));
    return _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi);
}

/* 16-bit sums: a += r adds (even byte) + 256 (odd byte), o += r >> 8 the odd byte. */
__attribute__((target("avx512f,avx512bw,avx512vbmi"), always_inline))
static inline void fs8_body_avx512(const uint8_t *blocks, int64_t b0, int64_t b1, int64_t n, int32_t M,
                                   const uint8_t *lut, fs_state *s) {
    const __m512i zero = _mm512_setzero_si512();
    uint16_t qe[32], qo[32];
    for (int64_t b = b0; b < b1; b++) {
        const uint8_t *blk = blocks + b * M * 64;
        __m512i a0 = zero, a1 = zero;
        for (int32_t m = 0; m < M; m++) {
            __m512i r = fs8_lookup(lut + m * 256, _mm512_loadu_si512((const void *)(blk + m * 64)));
            a0 = _mm512_add_epi16(a0, r);
            a1 = _mm512_add_epi16(a1, _mm512_srli_epi16(r, 8));
        }
        a0 = _mm512_sub_epi16(a0, _mm512_slli_epi16(a1, 8));  /* items 0, 2, ..., 62 */
        __m512i tv = _mm512_set1_epi16((short)fs_thr16(s));
        uint32_t me = (uint32_t)_mm512_cmple_epu16_mask(a0, tv), mo = (uint32_t)_mm512_cmple_epu16_mask(a1, tv);
        if (__builtin_expect(!(me | mo), 1)) continue;
        _mm512_storeu_si512((void *)qe, a0);
        _mm512_storeu_si512((void *)qo, a1);
        uint64_t mk = 0;
        for (int i = 0; i < 32; i++) mk |= (uint64_t)((me >> i) & 1) << (2 * i) | (uint64_t)((mo >> i) & 1) << (2 * i + 1);
        while (mk) {
            int j = __builtin_ctzll(mk);
            mk &= mk - 1;
            if (b * 64 + j < n) fs_offer(s, (j & 1) ? qo[j >> 1] : qe[j >> 1], b * 64 + j);
        }
    }
}

/* Saturating 8-bit sums (sat = 1; see the top of this file). With M a constant 4, 8 or 16 the
   tables of the first R = min(M, 6) sub-spaces stay in 4 R registers (their 64-byte reloads per
   block were 4 of every 5 loads; over 10M codes, loaded machine, the fastest calls went from
   0.29-0.35 to 0.27-0.28 ns/code); other M reload every table. */
#define FS8_REG_SUBS(M) (((M) == 4 || (M) == 8 || (M) == 16) ? ((M) < 6 ? (M) : 6) : 0)

__attribute__((target("avx512f,avx512bw,avx512vbmi"), always_inline))
static inline __m512i fs8_lookup_regs(const __m512i *t, __m512i idx) {
    __m512i lo = _mm512_permutex2var_epi8(t[0], idx, t[1]), hi = _mm512_permutex2var_epi8(t[2], idx, t[3]);
    return _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi);
}

__attribute__((target("avx512f,avx512bw,avx512vbmi"), always_inline))
static inline void fs8_body_sat_avx512(const uint8_t *blocks, int64_t b0, int64_t b1, int64_t n, int32_t M,
                                       const uint8_t *lut, fs_state *s) {
    uint8_t q[64];
    const int32_t R = FS8_REG_SUBS(M);
    __m512i t[6][4];
    for (int32_t m = 0; m < R; m++)
        for (int j = 0; j < 4; j++) t[m][j] = _mm512_loadu_si512((const void *)(lut + m * 256 + 64 * j));
    for (int64_t b = b0; b < b1; b++) {
        const uint8_t *blk = blocks + b * M * 64;
        __m512i a = _mm512_setzero_si512();
        for (int32_t m = 0; m < M; m++) {
            __m512i idx = _mm512_loadu_si512((const void *)(blk + m * 64));
            a = _mm512_adds_epu8(a, m < R ? fs8_lookup_regs(t[m], idx) : fs8_lookup(lut + m * 256, idx));
        }
        int32_t thr = s->thr < 254 ? s->thr : 254;
        uint64_t mk = (uint64_t)_mm512_cmple_epu8_mask(a, _mm512_set1_epi8((char)thr));
        if (__builtin_expect(!mk, 1)) continue;
        _mm512_storeu_si512((void *)q, a);
        while (mk) {
            int j = __builtin_ctzll(mk);
            mk &= mk - 1;
            if (b * 64 + j < n) fs_offer(s, q[j], b * 64 + j);
        }
    }
}

__attribute__((target("avx512f,avx512bw,avx512vbmi")))
static void fs8_scan_avx512_generic(const uint8_t *blocks, int64_t b0, int64_t b1, int64_t n, int32_t M,
                                    const uint8_t *lut, fs_state *s) {
    fs8_body_avx512(blocks, b0, b1, n, M, lut, s);
}

#define FS8_UNROLLED(BODY)                                                                              \
    switch (M) {  /* 32-, 64- and 128-bit codes unrolled; any other M runs the generic loop */         \
    case 4: BODY(blocks, b0, b1, n, 4, lut, s); break;                                                  \
    case 8: BODY(blocks, b0, b1, n, 8, lut, s); break;                                                  \
    case 16: BODY(blocks, b0, b1, n, 16, lut, s); break;                                                \
    default: BODY(blocks, b0, b1, n, M, lut, s);                                                        \
    }

__attribute__((target("avx512f,avx512bw,avx512vbmi")))
static void fs8_scan_avx512(const uint8_t *blocks, int64_t b0, int64_t b1, int64_t n, int32_t M,
                            const uint8_t *lut, fs_state *s) {
    if (s->sat) { FS8_UNROLLED(fs8_body_sat_avx512) }
    else { FS8_UNROLLED(fs8_body_avx512) }
}
#undef FS8_UNROLLED
#undef FS8_REG_SUBS
#endif
