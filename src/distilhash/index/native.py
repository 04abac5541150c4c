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

__all__ = ["load", "available", "hamming_knn", "pq_adc_knn"]

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
