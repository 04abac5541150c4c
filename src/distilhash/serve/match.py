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

``weak`` is set when ``contrast < WEAK_CONTRAST``: the best hit is then no closer than what the
closest few of a few hundred *random* items would score (about 2.9 spreads below the median for
normally distributed distances) — the query did not single out anything. A strong contrast is no
guarantee of relevance (a nonsense query still has nearest items); it only says the hits stand
out from the rest of the collection for this query. Text queries of a model with a calibrated
caption reference are judged by that instead; :func:`match_notes` holds the whole rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from distilhash.codes import Encoded

if TYPE_CHECKING:
    from distilhash.index.protocol import Index
    from distilhash.query_encoders.weak_match import CaptionReference

__all__ = ["MatchReference", "distance_info", "match_notes", "WEAK_CONTRAST"]

WEAK_CONTRAST = 2.0


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
        """Per query ``{"best", "typical", "spread", "contrast", "sample", "weak"}`` (None without hits or sample)."""
        if not len(self):
            return [None] * len(best)
        dist = self.distances(query)
        # one vectorised median / std for the batch: per-row np.median calls were ~7% of the
        # service's CPU per text query
        typicals, spreads = np.median(dist, axis=1), dist.std(axis=1)
        out: list[dict[str, Any] | None] = []
        for b, typical, spread in zip(best, typicals.tolist(), spreads.tolist()):
            if b is None:
                out.append(None)
                continue
            contrast = (typical - b) / spread if spread > 0 else 0.0
            out.append({"best": round(float(b), 4), "typical": round(typical, 4), "spread": round(spread, 4),
                        "contrast": round(contrast, 2), "sample": len(self), "weak": bool(contrast < WEAK_CONTRAST)})
        return out


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
