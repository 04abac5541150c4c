"""One torch thread policy for the CLI and the library.

On a shared or busy machine torch's default (one thread per core) makes the small matrix
products of training spin and wait on each other (an outside review found the Python API ~10x
slower than ``distilhash train``, which pins one thread; docs/dcmq.md measured 2 threads 3-4x
slower than one for DCMQ). Both now go through this module:

* the CLI calls :func:`set_threads` with its ``--threads`` value (default :func:`default_threads`);
* the library calls :func:`ensure_threads` where training starts (``seed_everything``, DCMH's
  fit, feature extraction): it applies the default once per process, unless distilhash was
  already told (``set_threads``) or ``OMP_NUM_THREADS`` is set, which it respects.

Choose another count with ``DISTILHASH_THREADS=N`` or ``distilhash.threads.set_threads(N)``.
"""

from __future__ import annotations

import os
import sys

__all__ = ["set_threads", "ensure_threads", "default_threads", "env_threads", "limit_threads", "THREADS_ENV", "DEFAULT_THREADS"]

THREADS_ENV = "DISTILHASH_THREADS"
#: Training's default: one intra-op thread is the fastest for these model sizes on a busy machine.
DEFAULT_THREADS = 1
_chosen: list[int] = []


def env_threads(name: str, default: int) -> int:
    """The positive integer in environment variable ``name``, or ``default`` when it is unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        from distilhash.errors import ConfigError

        raise ConfigError(f"{name}={raw!r}; expected a positive integer")
    return n


def default_threads() -> int:
    """``$DISTILHASH_THREADS`` if set (a positive integer), else :data:`DEFAULT_THREADS`."""
    return env_threads(THREADS_ENV, DEFAULT_THREADS)


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads to ``n`` (default :func:`default_threads`) and remember the choice."""
    import torch

    n = max(1, int(n)) if n is not None else default_threads()
    torch.set_num_threads(n)
    _chosen[:] = [n]
    return n


def ensure_threads() -> int | None:
    """Apply the default thread count once, unless a count was already chosen; returns the count set (or None)."""
    if _chosen:
        return None
    if not os.environ.get(THREADS_ENV) and os.environ.get("OMP_NUM_THREADS"):
        _chosen[:] = [-1]  # the user chose through OpenMP's own variable: leave torch as it is
        return None
    return set_threads(None)


def limit_threads(n: int) -> None:
    """Cap BLAS / OpenMP / torch threads at ``n``: the environment for libraries not loaded yet, the
    pools of those already loaded (numpy's OpenBLAS through threadpoolctl, torch's own setting).

    A loaded OpenBLAS keeps its pool size: with 2 threads its helper spins after every small
    matrix product, and in the search service it burned more CPU than the searches themselves.
    """
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(n)
    if "numpy" in sys.modules:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n, user_api="blas")
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
