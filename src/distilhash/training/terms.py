"""Running means of named loss terms (what each epoch logs)."""

from __future__ import annotations

from collections import defaultdict

__all__ = ["TermMeter"]


class TermMeter:
    """Accumulate ``{name: scalar tensor or float}`` dicts; ``means()`` gives per-name averages."""

    def __init__(self) -> None:
        self._sum: dict[str, float] = defaultdict(float)
        self._n: dict[str, int] = defaultdict(int)

    def add(self, terms: dict) -> None:
        for name, value in terms.items():
            self._sum[name] += float(value.detach()) if hasattr(value, "detach") else float(value)
            self._n[name] += 1

    def means(self) -> dict[str, float]:
        return {k: self._sum[k] / self._n[k] for k in self._sum}
