"""Float teachers compared on the open-vocabulary benchmark, several fits (seeds) per teacher.

Usage (a ``make demo`` home on the grouped split, the teachers below fitted in it)::

    DISTILHASH_HOME=... python bench/open_vocab_teachers.py --name NAME \\
        --teacher "today=lite0-minilm:openclipart" \\
        --teacher "prior, 224 px=lite0-prior:DIR0,lite0-prior:DIR1,lite0-prior:DIR2" ...

Each ``--teacher LABEL=SPEC[,SPEC...]`` is one row: the specs are fits of the same recipe with
different seeds, scored one by one (mean and sample std over them); ``ensemble:SPEC+SPEC+...``
scores the mean of the members' cosines (their unit embeddings concatenated, / sqrt(k); each member
reads Lite0 at its own image size). The first
row is the baseline every other row's P@10 and mAP are divided by. Every teacher here was fitted
and selected on ``split.fit`` / ``split.val`` only (its own ``teacher info`` says how); the queries
are the committed 176 nouns, the databases the held-out drawings (``split.query``) and the held-out
emoji glyphs (:mod:`distilhash.benchmark.open_vocab`). Image inputs are Lite0's pooled output at
the teacher's own image size (for a fine-tuned tower, the frozen stage-4 maps), cached.
``--domain openclipart`` scores one database only. ``--val-only`` computes the validation figures alone
(val MRR and val nouns P@10 on ``split.val``, ensembles included; no ``split.query`` or emoji database is scored), so a
rule that selects on val nouns P@10 can be applied before the benchmark is run. Writes ``bench/results/open_vocab_teachers/NAME.{json,md,png}``.

``--combine RUN [RUN ...]`` runs nothing: it reads stored results of the same rows on several splits (one per
grouped split) and writes NAME with every row's figures per split and their mean over the splits, and, with
``--reference LABEL``, the pick of the val-nouns rule (:func:`rule_pick`: highest mean val nouns P@10, ties within
``--tie``, the earlier row wins; it must beat LABEL by ``--tie`` and not fall below it on more than one split)::

    python bench/open_vocab_teachers.py --name query-templates-val --combine split0-x-val split1-x-val split2-x-val \
        --reference "(c0) ..."
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np


from distilhash.benchmark.open_vocab.pooled import embed_pooled, map_domains, pooled_domains, reads_maps, score, unit
from distilhash.benchmark.provenance import collect_provenance  # noqa: E402
from distilhash.benchmark.results import write_results  # noqa: E402

FIGURES = ("p_at", "r_at", "map_all")
#: (teacher name, fingerprint, database) -> image rows, so an ensemble re-uses its members' rows
_IMAGE_ROWS: dict[tuple[str, str, str], np.ndarray] = {}


def parse_row(arg: str) -> tuple[str, list[str]]:
    """``"LABEL=SPEC,SPEC"`` -> ``(LABEL, [SPEC, SPEC])``."""
    label, sep, specs = arg.partition("=")
    if not sep or not specs.strip():
        raise SystemExit(f"--teacher {arg!r}: expected LABEL=SPEC[,SPEC...]")
    return label.strip(), [s.strip() for s in specs.split(",") if s.strip()]


class Embedder:
    """One teacher (or an ensemble ``ensemble:A+B+C``): noun texts ``[q, D]`` and pooled features -> ``[n, D]``."""

    def __init__(self, spec: str) -> None:
        from distilhash.teachers.registry import create_teacher

        members = spec.split(":", 1)[1].split("+") if spec.startswith("ensemble:") else [spec]
        self.teachers = [create_teacher(m) for m in members]
        self.sizes = sorted({int(t.image_size) for t in self.teachers})
        self.k = len(self.teachers)

    def texts(self, words: list[str]) -> np.ndarray:
        return np.concatenate([unit(t.encode_texts(words)) for t in self.teachers], 1) / np.sqrt(self.k)

    def images(self, inputs, domain: str) -> np.ndarray:
        """``inputs(teacher)`` -> its image input of ``domain`` (Lite0 pooled ``[n, 1280]``, or stage-4 maps for a
        fine-tuned tower) -> ``[n, k D]`` (each member at its own size; a member's rows are computed once per run)."""
        out = []
        for t in self.teachers:
            key = (t.name, t.fingerprint, domain)
            if key not in _IMAGE_ROWS:
                _IMAGE_ROWS[key] = t.embed_maps(inputs(t)) if reads_maps(t) else embed_pooled(t, inputs(t))
            out.append(_IMAGE_ROWS[key])
        return np.concatenate(out, 1) / np.sqrt(self.k)

    def info(self) -> list[dict[str, Any]]:
        out = []
        for t in self.teachers:
            i = t.info()
            out.append({"name": i.get("name"), "fingerprint": i.get("fingerprint"), "image_size": i.get("image_size"),
                        "prior": i.get("prior"), "kept": (i.get("fit_info") or {}).get("kept") or i.get("kept"),
                        "val_mrr": val_mrr_of(i)})
        return out


def val_images(e: Embedder, ds, split) -> np.ndarray | None:
    """The teacher's (an ensemble's, as :meth:`Embedder.images`) embeddings ``[n_val, kD]`` of the ``split.val`` drawings
    (cached per member), or None."""
    if not all(t.capabilities.dataset_images for t in e.teachers):
        return None
    for t in e.teachers:
        if (t.name, t.fingerprint, "split.val") not in _IMAGE_ROWS:
            _IMAGE_ROWS[(t.name, t.fingerprint, "split.val")] = unit(t.encode_dataset_images(ds, np.asarray(split.val)))
    return np.concatenate([_IMAGE_ROWS[(t.name, t.fingerprint, "split.val")] for t in e.teachers], 1) / np.sqrt(e.k)


def title_val_mrr(e: Embedder, ds, split) -> float | None:
    """Val MRR of ``split.val`` images against their titles alone (``display_texts``), both directions; a diagnostic of
    how a teacher matches short texts on items it never fitted on. None without titles."""
    from distilhash.teachers.lite0_fit import val_scores

    z = val_images(e, ds, split)
    if ds.display_texts is None or z is None:
        return None
    return val_scores(z, e.texts([ds.display_texts[i] for i in np.asarray(split.val)]))["val_mrr"]


def val_mrr_of(info: dict[str, Any]) -> float | None:
    """The val MRR a teacher was selected by (split.val pairs, no labels): the prior's kept grid point, else the heads'."""
    if info.get("selection"):
        return float(max(g["val_mrr"] for g in info["selection"]))
    kept = info.get("kept") or {}
    return float(kept["val_mrr"]) if "val_mrr" in kept else None


def summarise(fits: list[dict[str, Any]], domains: list[str]) -> dict[str, Any]:
    """Mean and sample std (ddof 1; 0 for one fit) of every figure over the fits."""
    out: dict[str, Any] = {}
    for d in domains:
        out[d] = {}
        for f in FIGURES:
            v = np.array([fit[d][f] for fit in fits])
            out[d][f] = float(v.mean())
            out[d][f + "_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return out


def rule_pick(scores: dict[str, list[float]], reference: str, tie: float = 0.002) -> dict[str, Any]:
    """The val-nouns rule over splits. ``scores`` ``{label: [score per split]}`` in the candidates' fixed order.

    The highest mean wins; rows within ``tie`` of it tie and the first of them in order is picked. The pick replaces
    ``reference`` only if its mean is at least ``tie`` above the reference's and it is below the reference on at most one
    split; otherwise the pick is the reference. Returns ``{"pick", "best", "tied", "beats_reference", "means"}``.
    """
    means = {k: float(np.mean(v)) for k, v in scores.items()}
    top = max(means.values())
    tied = [k for k in scores if means[k] >= top - tie - 1e-12]
    best = tied[0]
    below = sum(b < r for b, r in zip(scores[best], scores[reference]))
    beats = best != reference and means[best] >= means[reference] + tie - 1e-12 and below <= 1
    return {"pick": best if beats else reference, "best": best, "tied": tied, "beats_reference": bool(beats),
            "splits_below_reference": int(below), "means": means}


def combine(names: list[str], out: str, reference: str | None, tie: float) -> None:
    """Stored per-split results ``names`` (same row labels) -> ``out``: per split and mean over splits, + the rule's pick."""
    from distilhash.benchmark.results import read_results

    runs = [read_results("open_vocab_teachers", n) for n in names]
    labels = list(runs[0]["rows"])
    if any(list(r["rows"]) != labels for r in runs):
        raise SystemExit(f"--combine {names}: the runs must have the same rows in the same order")
    if reference is not None and reference not in labels:
        raise SystemExit(f"--reference {reference!r}: expected one of {labels}")
    doms = [d for d in runs[0]["n_items"] if all(d in r["n_items"] for r in runs)]
    rows: dict[str, Any] = {}
    for label in labels:
        per = [r["rows"][label] for r in runs]
        row = {"val_nouns_p_at": [p["val_nouns_p_at"] for p in per]}
        for d in doms:
            row[d] = {"p_at": [p[d]["p_at"] for p in per], "map_all": [p[d]["map_all"] for p in per],
                      "p_at_vs_baseline": [p["vs_baseline"][d]["p_at"] for p in per]}
        rows[label] = row
    ok = [k for k in labels if all(v is not None for v in rows[k]["val_nouns_p_at"])]
    rule = rule_pick({k: rows[k]["val_nouns_p_at"] for k in ok}, reference, tie) if reference in ok else None
    from distilhash.benchmark.provenance import collect_provenance

    prov = collect_provenance("open_vocab_teachers", out, dataset="openclipart",
                              dataset_hash=runs[0]["provenance"].get("dataset_hash"),
                              split_hash=",".join(r["provenance"].get("split_hash", "?") for r in runs),
                              model_selection="nothing run here: per-split results of teachers selected on split.val; "
                                              "the rule's pick reads val nouns P@10 (split.val) only")
    result = {"provenance": prov, "combined": names, "baseline": runs[0]["baseline"], "rows": rows, "domains": doms,
              "split_hashes": [r["provenance"].get("split_hash") for r in runs], "reference": reference, "tie": tie,
              "rule": rule}
    write_results("open_vocab_teachers", out, result, combined_markdown(result),
                  plot=(lambda path: _plot_combined(result, path)) if doms else None)


def main(argv: list[str] | None = None) -> None:
    from distilhash.benchmark.open_vocab.domains import DOMAINS
    from distilhash.benchmark.open_vocab.scoring import OpenVocabOptions, relevance
    from distilhash.benchmark.open_vocab.vocab import load_query_list
    from distilhash.data.store import open_prepared

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--teacher", action="append", default=[], help="LABEL=SPEC[,SPEC...] (first = baseline)")
    p.add_argument("--name", default="teachers")
    p.add_argument("--dataset", default="openclipart")
    p.add_argument("--domain", action="append", default=None, help="only these databases (default: all)")
    p.add_argument("--val-only", action="store_true",
                   help="split.val figures only (val MRR, val nouns P@10): nothing on split.query or the emoji glyphs")
    p.add_argument("--combine", nargs="+", default=None, help="stored results of the same rows on other splits: "
                                                                  "write their per-split and mean figures as --name")
    p.add_argument("--reference", default=None, help="with --combine: the row the val-nouns rule's pick must beat")
    p.add_argument("--tie", type=float, default=0.002, help="with --combine: tie band and margin of the rule")
    a = p.parse_args(argv)
    if a.combine:
        return combine(a.combine, a.name, a.reference, a.tie)
    if not a.teacher:
        raise SystemExit("--teacher LABEL=SPEC[,SPEC...] is required (at least one; the first is the baseline)")
    rows_in = [parse_row(t) for t in a.teacher]
    ds, split = open_prepared(a.dataset)
    prov = collect_provenance("open_vocab_teachers", a.name, split=split, dataset=a.dataset,
                              model_selection="every teacher's heads, epochs, variants and prior weight chosen on "
                                              "split.val (as each teacher's info says); nothing on split.query or the "
                                              "open-vocabulary queries")
    options = OpenVocabOptions()
    if a.domain:
        unknown = set(a.domain) - set(options.domains)
        if unknown:
            raise SystemExit(f"--domain {sorted(unknown)}: expected some of {list(options.domains)}")
        options = dataclasses.replace(options, domains=tuple(d for d in options.domains if d in a.domain))
    qlist = load_query_list(None)
    doms = {} if a.val_only else {name: DOMAINS[name]() for name in options.domains}
    rel = {name: relevance(qlist, d.titles) for name, d in doms.items()}
    keep = {name: np.flatnonzero(r.any(1)) for name, r in rel.items()}
    cached: dict[tuple[str, int], dict[str, np.ndarray]] = {}
    # diagnostic, selects nothing: the same nouns against the split.val drawings (relevance = the SVG title names it)
    from distilhash.benchmark.open_vocab.domains import openclipart_titles

    val_rel = relevance(qlist, openclipart_titles([ds.ids[i] for i in split.val]))
    val_keep = np.flatnonzero(val_rel.any(1))

    def inputs_of(teacher) -> dict[str, np.ndarray]:
        """Per database, the image input ``teacher`` reads at its size (computed once per kind and size)."""
        key = ("maps" if reads_maps(teacher) else "pooled", int(teacher.image_size))
        if key not in cached:
            cached[key] = (map_domains if key[0] == "maps" else pooled_domains)(ds, split, emoji="emoji" in doms, size=key[1])
        return cached[key]

    rows: dict[str, Any] = {}
    for label, specs in rows_in:
        fits = []
        for spec in specs:
            e = Embedder(spec)
            q_all = e.texts(qlist.nouns)
            fit = {name: score(q_all[keep[name]], e.images(lambda t, name=name: inputs_of(t)[name], name), rel[name][keep[name]],
                               options) for name in doms}
            fit["spec"], fit["teachers"] = spec, e.info()
            fit["val_mrr_titles"] = title_val_mrr(e, ds, split)
            z_val = val_images(e, ds, split)
            fit["val_nouns"] = None if z_val is None else score(q_all[val_keep], z_val, val_rel[val_keep], options)
            fits.append(fit)
            print(label, spec, {n: round(fit[n]["p_at"], 3) for n in doms},
                  "val nouns P@10", None if fit["val_nouns"] is None else round(fit["val_nouns"]["p_at"], 3), flush=True)
        short = [f["val_mrr_titles"] for f in fits if f["val_mrr_titles"] is not None]
        nouns = [f["val_nouns"]["p_at"] for f in fits if f["val_nouns"] is not None]
        mrr = [t["val_mrr"] for f in fits for t in f["teachers"]] if all(len(f["teachers"]) == 1 for f in fits) else []
        mrr_ok = bool(mrr) and all(m is not None for m in mrr)
        rows[label] = {"fits": fits, "n_fits": len(fits), **summarise(fits, list(doms)),
                       "val_mrr": float(np.mean(mrr)) if mrr_ok else None,
                       "val_mrr_titles": float(np.mean(short)) if short else None,
                       "val_mrr_titles_std": float(np.std(short, ddof=1)) if len(short) > 1 else 0.0,
                       "val_nouns_p_at": float(np.mean(nouns)) if nouns else None,
                       "val_nouns_p_at_std": float(np.std(nouns, ddof=1)) if len(nouns) > 1 else 0.0,
                       "val_mrr_std": float(np.std(mrr, ddof=1)) if mrr_ok and len(mrr) > 1 else (0.0 if mrr_ok else None)}
    base = rows[rows_in[0][0]]
    for row in rows.values():
        row["vs_baseline"] = {d: {f: row[d][f] / base[d][f] for f in ("p_at", "map_all")} for d in doms}
    result = {"provenance": prov, "baseline": rows_in[0][0], "rows": rows,
              "n_queries": {n: int(len(k)) for n, k in keep.items()}, "n_items": {n: len(d) for n, d in doms.items()},
              # the best P@10 any ranking can reach: mean over the queries of min(relevant items, 10) / 10
              "p_at_ceiling": {n: float(np.mean(np.minimum(rel[n][k].sum(1), 10) / 10)) for n, k in keep.items()},
              "single_relevant_queries": {n: int((rel[n][k].sum(1) == 1).sum()) for n, k in keep.items()},
              "val_nouns_queries": int(len(val_keep)), "val_only": bool(a.val_only)}
    write_results("open_vocab_teachers", a.name, result, markdown(result),
                  plot=None if a.val_only else (lambda path: _plot(result, path)))


def markdown(r: dict[str, Any]) -> str:
    doms = list(r["n_items"])
    head = " | ".join(f"{d} P@10 | {d} mAP | {d} P@10 / base" for d in doms)
    title = ("# Float teachers, validation figures only (split.val; no benchmark database scored)" if r.get("val_only")
             else "# Float teachers on the open-vocabulary benchmark (176 nouns; relevance = the title names the noun)")
    lines = [title, "",
             "; ".join(f"{d}: {r['n_queries'][d]} queries with a relevant item among {r['n_items'][d]}"
                       + (f" (best reachable P@10 {r['p_at_ceiling'][d]:.3f}; {r['single_relevant_queries'][d]} queries with one "
                          "relevant item)" if "p_at_ceiling" in r else "") for d in doms)
             + f". Mean +- sample std over the fits; ratios to `{r['baseline']}`.", "",
             "val MRR (selection): each teacher's own selection score on split.val (title + tags captions); val MRR, "
             "titles: the same pairs with the title alone as caption; val nouns P@10: the 176 nouns against the 500 "
             f"split.val drawings ({r.get('val_nouns_queries')} nouns with a relevant one). Computed on split.val only; a "
             "rule committed before a run may select by them (docs/teachers.md).", "",
             f"| teacher | fits | val MRR (selection) | val MRR, titles | val nouns P@10 |{' ' + head + ' |' if doms else ''}",
             "|---" * (5 + 3 * len(doms)) + "|"]
    for name, row in r["rows"].items():
        cells = " | ".join(f"{row[d]['p_at']:.3f} +- {row[d]['p_at_std']:.3f} | {row[d]['map_all']:.3f} +- "
                           f"{row[d]['map_all_std']:.3f} | {row['vs_baseline'][d]['p_at']:.2f}x" for d in doms)
        mrr = "" if row.get("val_mrr") is None else f"{row['val_mrr']:.4f} +- {row['val_mrr_std']:.4f}"
        short = "" if row.get("val_mrr_titles") is None else f"{row['val_mrr_titles']:.4f} +- {row['val_mrr_titles_std']:.4f}"
        vn = "" if row.get("val_nouns_p_at") is None else f"{row['val_nouns_p_at']:.3f} +- {row['val_nouns_p_at_std']:.3f}"
        lines.append(f"| {name} | {row['n_fits']} | {mrr} | {short} | {vn} |" + (f" {cells} |" if doms else ""))
    lines += ["", "Specs per row: " + "; ".join(f"{n}: {', '.join(f['spec'] for f in row['fits'])}"
                                                for n, row in r["rows"].items())]
    return "\n".join(lines) + "\n"


def _domain_bars(ax, names: list[str], bars: dict[str, tuple[list[float], list[float]]], wrap: int = 0) -> None:
    """One horizontal bar per row name and series (``{label: (values, errors)}``), up to two series side by side."""
    import textwrap

    y = np.arange(len(names))
    for i, (label, (values, errors)) in enumerate(bars.items()):
        ax.barh(y + 0.4 * i, values, height=0.4, xerr=errors, label=label)
    ax.set_yticks(y + 0.2, [textwrap.fill(k, wrap) if wrap else k for k in names], fontsize=7)
    ax.invert_yaxis()


def _plot(r: dict[str, Any], path: Path) -> None:
    from distilhash.benchmark.figures import figure

    names = list(r["rows"])
    with figure(path, figsize=(9, 0.5 * len(names) + 1.4)) as (fig, ax):
        _domain_bars(ax, names, {f"{d} P@10": ([r["rows"][n][d]["p_at"] for n in names],
                                               [r["rows"][n][d]["p_at_std"] for n in names]) for d in r["n_items"]})
        ax.legend()
        ax.set_title("open-vocabulary P@10 of float teachers (held-out items; mean +- std over fits)")


def _mean_sd(v: list[float]) -> str:
    return f"{np.mean(v):.3f} +- {np.std(v, ddof=1) if len(v) > 1 else 0.0:.3f}"


def combined_markdown(r: dict[str, Any]) -> str:
    doms = r["domains"]
    n = len(r["combined"])
    lines = [f"# Float teachers over {n} grouped splits ({', '.join(f'`{h}`' for h in r['split_hashes'])})", "",
             f"Per split (in that order) and mean +- sample std over the splits; each split's figure is the mean over that "
             f"row's fits there. Ratios to `{r['baseline']}` of the same split. Stored runs: "
             + ", ".join(f"`{c}.json`" for c in r["combined"]) + ".", "",
             "| teacher | val nouns P@10 per split | val nouns P@10, mean |"
             + "".join(f" {d} P@10 per split | {d} P@10 / base per split | {d} P@10 / base, mean |" for d in doms),
             "|---" * (3 + 3 * len(doms)) + "|"]
    for name, row in r["rows"].items():
        vn = row["val_nouns_p_at"]
        cells = f"| {name} | " + (" / ".join(f"{v:.3f}" for v in vn) + f" | {_mean_sd(vn)} |" if None not in vn else " | |")
        for d in doms:
            cells += (" " + " / ".join(f"{v:.3f}" for v in row[d]["p_at"]) + " | "
                      + " / ".join(f"{v:.2f}x" for v in row[d]["p_at_vs_baseline"]) + f" | {np.mean(row[d]['p_at_vs_baseline']):.2f}x |")
        lines.append(cells)
    if r.get("rule"):
        rule = r["rule"]
        lines += ["", f"**Val-nouns rule** (highest mean val nouns P@10; ties within {r['tie']}: the earlier row; must beat "
                      f"`{r['reference']}` by {r['tie']} and not be below it on more than one split): best `{rule['best']}` "
                      f"(tied: {', '.join(f'`{t}`' for t in rule['tied'])}; below the reference on "
                      f"{rule['splits_below_reference']} split(s)); it {'beats' if rule['beats_reference'] else 'does not beat'} "
                      f"the reference, so the pick is **`{rule['pick']}`**."]
    return "\n".join(lines) + "\n"


def _plot_combined(r: dict[str, Any], path: Path) -> None:
    from distilhash.benchmark.figures import figure

    names = list(r["rows"])
    n = len(r["combined"])
    ratios = {d: [r["rows"][k][d]["p_at_vs_baseline"] for k in names] for d in r["domains"]}
    with figure(path, figsize=(9, 0.5 * len(names) + 1.6)) as (fig, ax):
        _domain_bars(ax, names, {f"{d} P@10 / baseline": ([np.mean(v) for v in vs],
                                                          [np.std(v, ddof=1) if len(v) > 1 else 0 for v in vs])
                                 for d, vs in ratios.items()}, wrap=34)
        ax.axvline(2.0, color="k", lw=0.8, ls="--", label="2x (issue 24 goal)")
        ax.legend(fontsize=7)
        ax.set_title(f"open-vocabulary P@10 over today's teacher, mean +- std over {n} grouped splits", fontsize=9)


if __name__ == "__main__":
    main()
