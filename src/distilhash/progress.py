"""Progress bars (tqdm) that can be switched off by argument or ``DISTILHASH_PROGRESS=0``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

__all__ = ["progress", "progress_enabled"]


def progress_enabled(flag: bool | None = None) -> bool:
    """``flag`` if given, else ``$DISTILHASH_PROGRESS`` (default on)."""
    if flag is not None:
        return bool(flag)
    return os.environ.get("DISTILHASH_PROGRESS", "1") not in ("0", "false", "no")


def progress(iterable: Iterable | None = None, *, desc: str = "", total: int | None = None, enabled: bool | None = None,
             **kw: Any):
    """A tqdm bar over ``iterable`` (disabled when progress is off)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, disable=not progress_enabled(enabled), dynamic_ncols=True,
                leave=kw.pop("leave", False), **kw)
