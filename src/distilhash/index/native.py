"""Native scan kernels (C, compiled on first use with the system compiler, loaded with ctypes).

Two exact top-k scans, single-threaded, blocked so that a block of codes (32 KB) stays in cache
while every query of the batch scans it:

* ``hamming_knn``: ``d = sum_w popcount(q_w XOR x_w)`` over uint64 words;
* ``pq_adc_knn``: ``d = T[0, x_0] + T[1, x_1] + ... + T[M-1, x_{M-1}]`` accumulated in float32
  in that order (the order of :func:`distilhash.index.pq.adc_distances`, so the distances are
  bit-identical to the numpy reference; negated for the ``ip`` metric).

Each query keeps a max-heap of its k best ``(distance, row)`` pairs; rows are scanned in
increasing order and a row replaces the heap top only when strictly closer, so among equal
distances the smaller rows win — the same (distance, row) order as every other searcher.

The C source is embedded below; the shared library is cached under
``$XDG_CACHE_HOME/distilhash/native/<sha>.so`` (or ``$DISTILHASH_NATIVE_CACHE``). When no
compiler is available :func:`load` raises ImportError and the FAISS searchers are used instead.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["load", "available", "hamming_knn", "pq_adc_knn", "pq_adc_knn_ranges", "MIHTables"]

C_SOURCE = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 4096

/* max-heap on (d, r): the root is the worst kept pair */
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
   lists, stored contiguously); out_r holds positions; same distances and heap as pq_adc_knn. */
void pq_adc_knn_ranges(const uint8_t *codes, int32_t M, int32_t K, const float *tables, int64_t nq,
                       const int64_t *lo, const int64_t *hi, int64_t nr, int64_t k, int32_t negate,
                       float *out_d, int64_t *out_r, int64_t *out_cnt) {
    for (int64_t qi = 0; qi < nq; qi++) {
        float *hd = out_d + qi * k;
        int64_t *hr = out_r + qi * k;
        const float *T = tables + qi * (int64_t)M * K;
        int64_t cnt = 0;
        int full = 0;
        float top = __builtin_inff();
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
                if (!full) { fh_push(hd, hr, cnt++, d, i); if (cnt == k) { full = 1; top = hd[0]; } }
                else if (d < top) { fh_replace_top(hd, hr, k, d, i); top = hd[0]; }
            }
        }
        out_cnt[qi] = cnt;
        fh_sort(hd, hr, cnt);
    }
}
"""

_LIB: ctypes.CDLL | None = None
_ERROR: str | None = None


def _cache_dir() -> Path:
    env = os.environ.get("DISTILHASH_NATIVE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "distilhash" / "native"


def _compile(target: Path) -> None:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise ImportError("no C compiler found (cc/gcc/clang); native kernels unavailable")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src = Path(tmp) / "kernels.c"
        src.write_text(C_SOURCE)
        out = Path(tmp) / "kernels.so"
        flags = ["-O3", "-march=native", "-fno-fast-math", "-fPIC", "-shared"]
        res = subprocess.run([cc, *flags, str(src), "-o", str(out)], capture_output=True, text=True)
        if res.returncode != 0:
            res = subprocess.run([cc, "-O3", "-fPIC", "-shared", str(src), "-o", str(out)], capture_output=True, text=True)
        if res.returncode != 0:
            raise ImportError(f"compiling native kernels failed: {res.stderr.strip()[:500]}")
        os.replace(out, target)


def load() -> ctypes.CDLL:
    """The compiled kernels (compiling them on first use); ImportError when impossible."""
    global _LIB, _ERROR
    if _LIB is not None:
        return _LIB
    if _ERROR is not None:
        raise ImportError(_ERROR)
    if os.environ.get("DISTILHASH_NO_NATIVE"):
        _ERROR = "native kernels disabled by DISTILHASH_NO_NATIVE"
        raise ImportError(_ERROR)
    import platform

    key = hashlib.sha256((C_SOURCE + platform.machine() + platform.node()).encode()).hexdigest()[:16]
    target = _cache_dir() / f"kernels-{key}.so"
    try:
        if not target.exists():
            _compile(target)
        lib = ctypes.CDLL(str(target))
    except (ImportError, OSError) as exc:
        _ERROR = str(exc)
        raise ImportError(_ERROR) from None
    p = ctypes.c_void_p
    i64, i32 = ctypes.c_int64, ctypes.c_int32
    lib.hamming_knn.argtypes = [p, i64, i32, p, i64, i64, p, p, p, p]
    lib.hamming_knn.restype = None
    lib.pq_adc_knn.argtypes = [p, i64, i32, i32, p, i64, i64, i32, p, p, p, p]
    lib.pq_adc_knn.restype = None
    lib.pq_adc_knn_ranges.argtypes = [p, i32, i32, p, i64, p, p, i64, i64, i32, p, p, p]
    lib.pq_adc_knn_ranges.restype = None
    lib.mih_knn.argtypes = [p, i64, i64, i32, i32, p, p, p, p, p, i32, p, p, p, i64, i64, p, p, p, i64, p, p, p, p]
    lib.mih_knn.restype = None
    _LIB = lib
    return lib


def available() -> bool:
    try:
        load()
        return True
    except ImportError:
        return False


def _ptr(a: np.ndarray | None) -> int | None:
    return None if a is None else a.ctypes.data


def hamming_knn(words: np.ndarray, queries: np.ndarray, k: int, dead: np.ndarray | None = None):
    """Top-k by (Hamming distance, row): words uint64 ``[n, W]``, queries uint64 ``[nq, W]``.

    Returns (dist int32 ``[nq, k]``, rows int64 ``[nq, k]``, count int64 ``[nq]``); entries past
    ``count`` are undefined. ``dead``: optional uint8/bool ``[n]`` of rows to skip.
    """
    lib = load()
    words = np.ascontiguousarray(words, dtype=np.uint64)
    queries = np.ascontiguousarray(queries, dtype=np.uint64)
    n, w = words.shape
    nq = queries.shape[0]
    k = max(1, min(int(k), max(n, 1)))
    out_d = np.empty((nq, k), np.int32)
    out_r = np.empty((nq, k), np.int64)
    cnt = np.zeros(nq, np.int64)
    if dead is not None:
        dead = np.ascontiguousarray(dead).view(np.uint8)
    lib.hamming_knn(_ptr(words), n, w, _ptr(queries), nq, k, _ptr(dead), _ptr(out_d), _ptr(out_r), _ptr(cnt))
    return out_d, out_r, cnt


def pq_adc_knn(codes: np.ndarray, tables: np.ndarray, k: int, negate: bool, dead: np.ndarray | None = None):
    """Top-k by (ADC distance, row): codes uint8 ``[n, M]``, tables float32 ``[nq, M, K]``.

    Returns (dist float32 ``[nq, k]``, rows int64 ``[nq, k]``, count int64 ``[nq]``).
    """
    lib = load()
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    tables = np.ascontiguousarray(tables, dtype=np.float32)
    n, m = codes.shape
    nq, tm, kk = tables.shape
    if tm != m:
        raise ValueError(f"tables have M={tm}, codes M={m}")
    k = max(1, min(int(k), max(n, 1)))
    out_d = np.empty((nq, k), np.float32)
    out_r = np.empty((nq, k), np.int64)
    cnt = np.zeros(nq, np.int64)
    if dead is not None:
        dead = np.ascontiguousarray(dead).view(np.uint8)
    lib.pq_adc_knn(_ptr(codes), n, m, kk, _ptr(tables), nq, k, int(negate), _ptr(dead), _ptr(out_d), _ptr(out_r), _ptr(cnt))
    return out_d, out_r, cnt


def pq_adc_knn_ranges(codes: np.ndarray, tables: np.ndarray, lo: np.ndarray, hi: np.ndarray, k: int, negate: bool):
    """Top-k by ADC distance per query over position ranges ``[lo[q, j], hi[q, j])`` of ``codes``.

    codes uint8 ``[n, M]``, tables float32 ``[nq, M, K]``, lo/hi int64 ``[nq, nr]``. Returns
    (dist float32 ``[nq, k]``, positions int64 ``[nq, k]``, count int64 ``[nq]``), each row sorted by
    (distance, position). The whole batch runs in C with the interpreter lock released.
    """
    lib = load()
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    tables = np.ascontiguousarray(tables, dtype=np.float32)
    lo = np.ascontiguousarray(lo, dtype=np.int64)
    hi = np.ascontiguousarray(hi, dtype=np.int64)
    nq, m, kk = tables.shape
    if codes.shape[1] != m or lo.shape != hi.shape or lo.shape[0] != nq:
        raise ValueError(f"shapes: codes {codes.shape}, tables {tables.shape}, lo {lo.shape}, hi {hi.shape}")
    k = max(1, int(k))
    out_d = np.empty((nq, k), np.float32)
    out_r = np.empty((nq, k), np.int64)
    cnt = np.zeros(nq, np.int64)
    lib.pq_adc_knn_ranges(_ptr(codes), m, kk, _ptr(tables), nq, _ptr(lo), _ptr(hi), lo.shape[1], k, int(negate),
                          _ptr(out_d), _ptr(out_r), _ptr(cnt))
    return out_d, out_r, cnt


class MIHTables:
    """The MIH hash tables in the layout :c:func:`mih_knn` reads (see :mod:`distilhash.index.mih`).

    Args:
        fields: ``(word, shift, bits)`` per field; tables: ``(offsets int64, order int32)`` per
        field; max_probes: radius steps with more flip masks than this make the query fall back.
    """

    def __init__(self, fields, tables, n_indexed: int, max_probes: int) -> None:
        from distilhash.index.mih import flip_masks
        import math

        load()
        self.m = len(fields)
        self.fw = np.array([f[0] for f in fields], np.int32)
        self.fs = np.array([f[1] for f in fields], np.int32)
        self.fb = np.array([f[2] for f in fields], np.int32)
        self.S = int(self.fb.max())
        self._keep = []  # keeps the arrays the pointers refer to alive
        self.orders = [np.ascontiguousarray(o, dtype=np.int32) for _, o in tables]
        self.offsets = [np.ascontiguousarray(o, dtype=np.int64) for o, _ in tables]
        self.off_ptrs = np.array([o.ctypes.data for o in self.offsets], np.int64)
        self.ord_ptrs = np.array([o.ctypes.data for o in self.orders], np.int64)
        self.mask_ptrs = np.zeros(self.m * (self.S + 1), np.int64)
        self.mask_lens = np.full(self.m * (self.S + 1), -1, np.int64)
        for j, b in enumerate(self.fb.tolist()):
            for s in range(0, b + 1):
                if math.comb(b, s) > max_probes:
                    break
                masks = flip_masks(b, s)
                self._keep.append(masks)
                self.mask_ptrs[j * (self.S + 1) + s] = masks.ctypes.data
                self.mask_lens[j * (self.S + 1) + s] = masks.size
        self.n_indexed = n_indexed
        self.visited = np.zeros(n_indexed, np.uint32)
        self.epoch = np.zeros(1, np.int64)

    def knn(self, words: np.ndarray, queries: np.ndarray, k: int, dead: np.ndarray | None, max_cand: int):
        """(dist int32 [nq, k], rows int64 [nq, k], count int64 [nq] (-1 = fall back), candidates [nq])."""
        lib = load()
        words = np.ascontiguousarray(words, dtype=np.uint64)
        queries = np.ascontiguousarray(queries, dtype=np.uint64)
        nq = queries.shape[0]
        out_d = np.empty((nq, k), np.int32)
        out_r = np.empty((nq, k), np.int64)
        cnt = np.zeros(nq, np.int64)
        cand = np.zeros(nq, np.int64)
        if dead is not None:
            dead = np.ascontiguousarray(dead).view(np.uint8)
        lib.mih_knn(_ptr(words), self.n_indexed, words.shape[0], words.shape[1], self.m, _ptr(self.fw), _ptr(self.fs),
                    _ptr(self.fb), _ptr(self.off_ptrs), _ptr(self.ord_ptrs), self.S, _ptr(self.mask_ptrs),
                    _ptr(self.mask_lens), _ptr(queries), nq, k, _ptr(dead), _ptr(self.visited), _ptr(self.epoch),
                    int(max_cand), _ptr(out_d), _ptr(out_r), _ptr(cnt), _ptr(cand))
        return out_d, out_r, cnt, cand
