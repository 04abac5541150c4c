"""The parts of a search answer that are not the search: result items and plain-language notes.

:func:`result_items` turns an index :class:`~distilhash.index.SearchResult` into the JSON items
of an answer (id, distance, caption, labels, metadata, thumbnail URL); :func:`answer_notes` adds
the caveats a user should read (a weak match, judged by :func:`distilhash.serve.match.match_notes`); :func:`runtime_info` reports the
optional fast HTTP pieces that are installed.
"""

from __future__ import annotations

from typing import Any

from distilhash.serve.items import shown_caption, thumbnail_url
from distilhash.serve.jsonsafe import public_metadata
from distilhash.serve.targets import Target

__all__ = ["result_items", "answer_notes", "runtime_info"]



def result_items(target: Target, res: Any, has_thumbs: bool | None = None) -> list[dict[str, Any]]:
    """One dict per hit of ``res`` (a SearchResult of ``target``'s index), best first."""
    if has_thumbs is None:
        has_thumbs = target.thumbs.path.exists()
    out = []
    for i, d, md in zip(res.ids, res.distances.tolist(), res.metadata):
        out.append({
            "id": i,
            "distance": float(d),
            "caption": shown_caption(md),
            "labels": md.get("labels"),
            "metadata": public_metadata(md),
            "thumbnail": thumbnail_url(i, target.modality) if has_thumbs else None,
        })
    return out


def answer_notes(encoder: dict[str, Any] | None, match: dict[str, Any] | None) -> list[str]:
    """Plain-language caveats of an answer: a weak best hit (``encoder``: which text encoder answered)."""
    notes = []
    if match is not None and match["weak"] and "likeness" in match:
        lk = match["likeness"]
        notes.append(f"weak match: the words do not read like this collection's captions (letters score {lk['score']:.2f} "
                     f"is below the calibrated threshold {lk['threshold']:.2f}, which about 4 % of real captions fall below); "
                     "the results are probably unrelated to the query")
    elif match is not None and match["weak"]:
        notes.append(f"weak match: the best hit (distance {match['best']:g}) is only {match['contrast']:.1f} standard deviations "
                     f"closer than a typical item ({match['typical']:g}, median over {_sample_text(match)}), below "
                     f"{_threshold_text(match)}; the results may be unrelated to the query")
    return notes


def _sample_text(match: dict[str, Any]) -> str:
    """What the typical distance is the median of: every item of a small collection, or a random sample."""
    return f"all {match['sample']} items" if match.get("sample_is_collection") else f"{match['sample']} random items"


def _threshold_text(match: dict[str, Any]) -> str:
    """How the contrast threshold of ``match`` was chosen, in words (serve/match.py)."""
    from distilhash.serve.match import CALIBRATION_FALSE_ALARM, WEAK_CONTRAST

    threshold = match.get("threshold", WEAK_CONTRAST)
    if match.get("threshold_rule") == "own captions":
        return (f"{threshold:.2f} (calibrated on this collection's own captions: {CALIBRATION_FALSE_ALARM:.0%} of those that "
                "find their own picture first score below it)")
    return f"{threshold:.2f}"


def runtime_info() -> dict[str, bool]:
    """Which optional fast HTTP pieces are installed (uvicorn picks uvloop / httptools when present)."""
    import importlib.util

    return {m: importlib.util.find_spec(m) is not None for m in ("orjson", "uvloop", "httptools")}
