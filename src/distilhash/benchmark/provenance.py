"""What every benchmark record carries besides its figures: code version, machine, memory."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["git_info", "machine_info", "peak_rss_mib"]


def git_info(root: Path) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty_src": bool | None}`` of the checkout at ``root``.

    ``dirty_src`` is true when ``src/`` or ``bench/suites`` differ from the commit (other
    files in a shared working tree are not the benchmark's business).
    """

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no", "--", "src", "bench/suites")
    return {"commit": commit, "dirty_src": None if status is None else bool(status)}


def machine_info(threads: int) -> dict[str, Any]:
    """CPU count, thread budget, library versions and the current load average."""
    import numpy as np

    info: dict[str, Any] = {
        "hostname": platform.node(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "loadavg": list(os.getloadavg()),
        "shared_machine": True,
    }
    if "torch" in sys.modules:
        info["torch"] = sys.modules["torch"].__version__
    return info


def peak_rss_mib() -> float:
    """High-water mark of this process's resident set (``getrusage``; Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / (1024.0 * 1024.0) if sys.platform == "darwin" else kib / 1024.0
