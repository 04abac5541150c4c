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

Teacher fits and feature extraction (``distilhash teacher fit`` / ``extract``, the demo's long steps) are
dominated by the convolutions of the image tower, which do use a second core when one is free. Their
default is :func:`fit_threads`: ``$DISTILHASH_THREADS`` if set, else :func:`available_cores`, the cores
this process may run on minus the cores other work kept busy over the last :data:`SAMPLE_SECONDS`
(``/proc/stat``), at least 1 (2 on an idle 2-core machine, 1 while two other jobs run). A fixed 2
threads on a loaded machine made the demo's teacher fit take 2,122 s: each OpenMP thread waits at
every barrier for the other to be scheduled. ``--threads N`` overrides it.

It used to subtract the 1-minute load average instead, which still counts work that has finished:
the demo's own previous step (preparing the dataset, then the heads fit) kept it near 1 on a quiet
2-core machine, so the demo's fits and extraction ran on one thread with the second core idle. The
short sample sees only what runs now; the load average is the fallback where ``/proc/stat`` is absent.
"""

from __future__ import annotations

import os
import sys
import time

__all__ = ["set_threads", "ensure_threads", "default_threads", "env_threads", "limit_threads", "available_cores", "fit_threads",
           "busy_cores", "THREADS_ENV", "DEFAULT_THREADS", "SAMPLE_SECONDS"]

THREADS_ENV = "DISTILHASH_THREADS"
#: Training's default: one intra-op thread is the fastest for these model sizes on a busy machine.
DEFAULT_THREADS = 1
#: how long :func:`available_cores` watches the CPUs before a fit or an extraction
SAMPLE_SECONDS = 0.5
#: the fields of a ``/proc/stat`` cpu line that count as idle (idle, iowait), of the first 8 (guest is in user)
_IDLE_FIELDS = (3, 4)
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


def _cpu_jiffies(cpus: set[int], path: str = "/proc/stat") -> dict[int, tuple[int, int]] | None:
    """CPU -> (busy, total) jiffies since boot for the CPUs ``cpus``, from ``path`` (None where it is absent)."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    out = {}
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            values = [int(v) for v in fields[:8]]
            out[int(name[3:])] = (sum(values) - sum(values[i] for i in _IDLE_FIELDS), sum(values))
    return out or None


def busy_cores(cpus: set[int], seconds: float = SAMPLE_SECONDS) -> float | None:
    """How many of ``cpus`` were busy over the next ``seconds`` (sum of each CPU's busy share), None without
    ``/proc/stat``. This process sleeps meanwhile, so what is counted is other work."""
    before = _cpu_jiffies(cpus)
    if before is None:
        return None
    time.sleep(seconds)
    after = _cpu_jiffies(cpus) or {}
    busy = 0.0
    for cpu, (b0, t0) in before.items():
        b1, t1 = after.get(cpu, (b0, t0))
        if t1 > t0:
            busy += (b1 - b0) / (t1 - t0)
    return busy


def available_cores(seconds: float = SAMPLE_SECONDS) -> int:
    """Cores this process may run on that other work leaves free now (sampled over ``seconds``), rounded, at
    least 1; without ``/proc/stat``, the cores minus the 1-minute load average."""
    try:
        cpus = set(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = set(range(os.cpu_count() or 1))
    cores = len(cpus)
    busy = busy_cores(cpus, seconds)
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average on this platform: assume the machine is idle
            return cores
    return max(1, min(cores, int(cores - busy + 0.5)))


def fit_threads(n: int | None = None) -> int:
    """Torch threads for a teacher fit or extraction: ``n`` if given, else ``$DISTILHASH_THREADS``, else
    :func:`available_cores` (see the module docstring)."""
    if n is not None:
        if int(n) < 1:
            from distilhash.errors import ConfigError

            raise ConfigError(f"threads={n!r}; expected a positive integer (or None for the free cores)")
        return int(n)
    return env_threads(THREADS_ENV, 0) or available_cores()


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
