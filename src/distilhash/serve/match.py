"""How good is a query's best hit? Its distance next to the query's *typical* distance.

For every served index a fixed random sample of its items' codes is kept (``n`` items, drawn
once). A query's distances to that sample say what an unrelated item scores for *this* query;
the answer reports the best hit's distance next to the sample's median and spread:

    typical = median_j d(q, x_j),   spread = std_j d(q, x_j),   contrast = (typical - best) / spread

and what the distance is (:func:`distance_info`): Hamming (bits that differ out of L) for a
binary index, the asymmetric (ADC) distance for a PQ index (``ip``: minus the inner product of
the query with the item's reconstruction; ``l2``: squared Euclidean distance). The distances are
the index package's own (:class:`distilhash.index.distances.CodeSample`): nothing here
re-computes them.

``weak`` is set when ``contrast < threshold``. The fixed threshold :data:`WEAK_CONTRAST` (2.0) says
the best hit is no closer than what the closest few of a few hundred *random* items would score —
the query did not single out anything — and holds for an index much larger than its sample. When
the sample is the **whole collection** (at most ``n`` items: an own folder of 30 pictures), the
best hit is one of the sampled items, and the contrast of the best of N items is what the maximum
of N draws is: about 2.0 for N = 30 whatever the query, so the fixed rule flagged about half of all
answers, the right picture first included (issue 24: "a floppy disk" 1.8, "a webcam" 1.8 on a
29-picture folder). For such an index the threshold is **calibrated on the index's own captions**
when the service starts (:func:`calibrate_on_captions`): each item's caption is searched as a text
query through the served model; of the captions whose own item comes first, the threshold is the
contrast that :data:`CALIBRATION_FALSE_ALARM` (10 %) of them fall below, never above
:data:`WEAK_CONTRAST` (so it never flags more than the fixed rule), and the fixed rule stays when
fewer than :data:`MIN_CALIBRATION_QUERIES` captions find their own item first. No typed query
takes part in the choice. A strong contrast is no guarantee of relevance (a nonsense query still
has nearest items); it only says the hits stand out from the rest of the collection for this query.
Text queries of a model with a calibrated caption reference are judged by that instead;
:func:`match_notes` holds the whole rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from distilhash.codes import Encoded
from distilhash.errors import DistilhashError

if TYPE_CHECKING:
    from distilhash.index.protocol import Index
    from distilhash.query_encoders.protocol import QueryEncoder
    from distilhash.query_encoders.weak_match import CaptionReference

__all__ = ["MatchReference", "distance_info", "match_notes", "contrast_threshold", "calibrate_on_captions", "calibration_line",
           "WEAK_CONTRAST", "CALIBRATION_FALSE_ALARM", "MIN_CALIBRATION_QUERIES"]

WEAK_CONTRAST = 2.0
#: share of the index's own right-first captions a calibrated threshold flags
CALIBRATION_FALSE_ALARM = 0.10
#: fewer right-first captions than this: the fixed threshold stays
MIN_CALIBRATION_QUERIES = 5


def distance_info(index: Index) -> dict[str, Any]:
    """What an index's distances are: ``{"kind", "bits", "lower_is_closer", "label"}``."""
    if index.kind.hamming:  # binary codes
        return {"kind": "hamming", "bits": int(index.n_bits), "lower_is_closer": True,
                "label": f"Hamming distance: bits that differ out of {int(index.n_bits)}"}
    metric = index.metric or "l2"
    label = ("asymmetric distance (ADC): minus the inner product of the query with the item's PQ reconstruction"
             if metric == "ip" else "asymmetric distance (ADC): squared distance of the query to the item's PQ reconstruction")
    return {"kind": f"adc-{metric}", "bits": int(index.n_bits), "lower_is_closer": True, "label": label}


class MatchReference:
    """Distances of queries to a fixed random sample of an index's items (see module docstring).

    Args:
        index: an open index (binary or PQ).
        n: sample size (the index's live items if fewer).
        seed: the sample's random draw.
    """

    def __init__(self, index: Index, n: int = 512, seed: int = 0) -> None:
        from distilhash.index.distances import CodeSample  # the index package is loaded: an index is open

        self.sample = CodeSample(index.sample_codes(n, seed), index.codebooks, index.metric or "l2")
        self._index = index  # its live count says whether the sample is still the whole collection (adds)
        self._started_whole = len(self.sample) >= len(index)  # else never asked again: no count on the hot path
        self.threshold = WEAK_CONTRAST  # contrast below it: weak (calibrate_on_captions may lower it)
        self.calibration: dict[str, Any] = {"rule": "fixed", "threshold": WEAK_CONTRAST}

    @property
    def whole(self) -> bool:
        """Whether the sample is every live item of the collection (false once items are added past it)."""
        return self._started_whole and len(self.sample) >= len(self._index)

    @property
    def codes(self) -> np.ndarray:
        """The sampled items' codes, uint8 ``[n, code_size]`` (PQ: ``[n, M]`` codeword indices)."""
        return self.sample.codes

    def __len__(self) -> int:
        return len(self.sample)

    def distances(self, query: Encoded | np.ndarray) -> np.ndarray:
        """float32 ``[nq, n]``: the distances the index reports from each query to each sampled item
        (:class:`distilhash.index.distances.CodeSample`)."""
        return self.sample.distances(query)

    def summaries(self, query: Encoded | np.ndarray, best: list[float | None]) -> list[dict[str, Any] | None]:
        """Per query ``{"best", "typical", "spread", "contrast", "sample", "sample_is_collection", "threshold",
        "threshold_rule", "weak"}`` (None without hits or sample)."""
        if not len(self):
            return [None] * len(best)
        dist = self.distances(query)
        # one vectorised median / std for the batch: per-row np.median calls were ~7% of the
        # service's CPU per text query
        typicals, spreads = np.median(dist, axis=1), dist.std(axis=1)
        whole = self.whole
        out: list[dict[str, Any] | None] = []
        for b, typical, spread in zip(best, typicals.tolist(), spreads.tolist()):
            if b is None:
                out.append(None)
                continue
            contrast = (typical - b) / spread if spread > 0 else 0.0
            out.append({"best": round(float(b), 4), "typical": round(typical, 4), "spread": round(spread, 4),
                        "contrast": round(contrast, 2), "sample": len(self), "sample_is_collection": whole,
                        "threshold": round(self.threshold, 2),
                        "threshold_rule": self.calibration["rule"], "weak": bool(contrast < self.threshold)})
        return out


def contrast_threshold(contrasts: Sequence[float], false_alarm: float = CALIBRATION_FALSE_ALARM,
                       min_queries: int = MIN_CALIBRATION_QUERIES) -> float | None:
    """The calibrated threshold: ``min(WEAK_CONTRAST, the contrast a share false_alarm of contrasts is below)``,
    from the contrasts of queries whose right item came first; None for fewer than ``min_queries`` of them."""
    c = np.asarray(contrasts, np.float64)
    if c.size < min_queries:
        return None
    return float(min(WEAK_CONTRAST, np.quantile(c, false_alarm, method="lower")))


def calibrate_on_captions(reference: MatchReference, index: Index, encoder: QueryEncoder, batch: int = 64,
                          max_captions: int = 256) -> dict[str, Any]:
    """Set ``reference.threshold`` from the index's own captions (module docstring) when its sample is the
    whole collection; returns (and keeps as ``reference.calibration``) what was done and the figures.

    At most ``max_captions`` captions (evenly spaced in row order) are searched: each is one text read at start."""
    import time

    from distilhash.data.captions import shown_caption

    t0 = time.perf_counter()
    live = len(index)
    if not len(reference) or not reference.whole:
        return reference.calibration  # a sample of a larger index: the fixed rule's premise holds
    ids, texts = [], []
    for item_id, md in index.iter_metadata():
        text = shown_caption(md)
        if isinstance(text, str) and text.strip():
            ids.append(item_id)
            texts.append(text)
    if not texts:
        reference.calibration = {**reference.calibration, "skipped": "the index stores no captions to set it from"}
        return reference.calibration
    if len(texts) > max_captions:
        keep = np.linspace(0, len(texts) - 1, max_captions).round().astype(int)
        ids, texts = [ids[i] for i in keep], [texts[i] for i in keep]
    contrasts: list[float] = []
    try:
        for lo in range(0, len(texts), batch):
            query = encoder.encode_texts(texts[lo:lo + batch])
            results = index.search(query, 1)
            firsts = [r.ids[0] == i if len(r.ids) else False for r, i in zip(results, ids[lo:lo + batch])]
            best = [float(r.distances[0]) if len(r.ids) else None for r in results]
            for ok, m in zip(firsts, reference.summaries(query, best)):
                if ok and m is not None:
                    contrasts.append(m["contrast"])
    except DistilhashError as exc:  # the model cannot search this index by text: its answers keep the fixed rule
        reference.calibration = {**reference.calibration, "skipped": f"captions could not be searched: {exc}"}
        return reference.calibration
    threshold = contrast_threshold(contrasts)
    calibration = {"rule": "own captions" if threshold is not None else "fixed",
                   "threshold": round(threshold if threshold is not None else WEAK_CONTRAST, 4),
                   "captions": len(texts), "right_first": len(contrasts), "items": live,
                   "seconds": round(time.perf_counter() - t0, 2),
                   "false_alarm": CALIBRATION_FALSE_ALARM, "min_right_first": MIN_CALIBRATION_QUERIES}
    if threshold is not None:
        reference.threshold = threshold
    reference.calibration = calibration
    return calibration


def calibration_line(modality: str, calibration: dict[str, Any] | None) -> str | None:
    """What ``distilhash serve`` says at start about a calibrated threshold (None when the fixed rule simply holds)."""
    if not calibration:
        return None
    if "skipped" in calibration:
        return f"{modality} index: weak-match threshold {WEAK_CONTRAST:g} (fixed; {calibration['skipped']})"
    if "captions" not in calibration:
        return None
    head = (f"{modality} index of {calibration['items']:,} items: weak-match threshold {calibration['threshold']:g}, "
            if calibration["rule"] == "own captions" else f"{modality} index of {calibration['items']:,} items: "
            f"weak-match threshold {WEAK_CONTRAST:g} (fixed: fewer than {MIN_CALIBRATION_QUERIES} captions find their own item first); ")
    return head + (f"searched its {calibration['captions']:,} captions in {calibration['seconds']:g} s, "
                   f"{calibration['right_first']:,} find their own item first (docs/serve.md, the match field)")


def match_notes(reference: MatchReference | None, captions: CaptionReference | None, query: Encoded | np.ndarray,
                best: list[float | None], texts: list[str] | None = None,
                features: np.ndarray | None = None) -> list[dict[str, Any] | None]:
    """Per query the answer's ``match`` (None without a reference or hits): the one place the weak-match rule is.

    ``weak``: for text queries read into teacher-space ``features`` when the model has a calibrated
    caption reference (``captions``, :mod:`distilhash.query_encoders.weak_match`), the query's
    letters score is below the calibrated threshold (the signals under ``likeness``; the
    typical-distance figures are kept beside them); otherwise the best hit's contrast with the
    typical distance is below :data:`WEAK_CONTRAST` (:meth:`MatchReference.summaries`).
    """
    out = reference.summaries(query, best) if reference is not None else [None] * len(best)
    if captions is None or texts is None or features is None:
        return out
    merged: list[dict[str, Any] | None] = []
    for m, s in zip(out, captions.summaries(texts, features)):
        merged.append({**(m or {}), "weak": s["weak"], "rule": s["rule"], "likeness": s})
    return merged
