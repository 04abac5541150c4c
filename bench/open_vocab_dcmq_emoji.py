"""DCMQ's codes on glyphs they never saw: a validation column to select on, and where the emoji loss is.

Usage (trained DCMQ / PQ runs on one teacher; several seeds of one configuration per row)::

    DISTILHASH_HOME=... python bench/open_vocab_dcmq_emoji.py validation --name NAME --row "LABEL=RUN_s0,RUN_s1,..." ...
    DISTILHASH_HOME=... python bench/open_vocab_dcmq_emoji.py coverage --name NAME --row ...

``validation`` (what a setting may be selected on; no benchmark database is read): the committed noun
queries against two databases that no stage fitted on and that are not the benchmark's:

* ``emoji-fit (val half)``: the Noto glyphs of the 42 emoji subgroups that are *not* held out
  (:func:`distilhash.data.emoji_glyphs.emoji_glyphs` with ``held_out=False``), titled by CLDR name, of the
  subgroups :func:`pool_half` does not put in the codebook pool; the teacher ``lite0-prior:openclipart-224``
  and every DCMQ run fit on openclipart ``split.fit`` only, so these glyphs are as unseen as the held-out
  ones, and of the same kind;
* ``val drawings``: the 500 openclipart ``split.val`` drawings titled by their SVG title.

Each is ranked three ways (float teacher, float student, codes with ADC; see
``bench/open_vocab_dcmq_diagnosis.py``): P@10 and mAP@all, and their share of the float teacher's.

``coverage`` (a diagnosis; it reads the held-out databases, selects nothing): per image domain (fit /
val / query drawings, emoji-fit and held-out glyphs) how well the codebooks cover the image embeddings
``z``: relative reconstruction error ``|z - q|^2 / |z|^2``, the ADC score noise (std over items of
``<t, q> - <t, z>`` for the noun queries ``t``, over the std of ``<t, z>``), its part parallel to ``z``
(``<z - q, z>^2 / |z|^2``, over ``|z|^2``), and codeword usage
(distinct codewords and perplexity per codebook). ``queries`` (a diagnosis too): per noun, the relevant
items in the top 10 of the held-out emoji glyphs for the float teacher, the float student and the codes (ADC,
DCMQ runs with the inner-product metric), mean over the row's seeds: which queries the codes lose. ``quantizers``
(a reference, no DCMQ): 64-bit quantizers of the teacher's own features fitted on the image and text rows of
split.fit, PQ 8 x 256 (distilhash), and faiss's OPQ + PQ, residual quantization (8 x 256, beam 8) and LSQ (8 x 256),
items ranked by L2 to their reconstruction as ``pq`` ADC ranks them; ``--run`` names the run whose teacher and dataset
give the features, ``--quantizer`` (repeated) the quantizers, validation databases only unless ``--held-out``;
``--fit-on fit+db`` / ``db`` (a diagnosis: it fits codebooks on the very items it then scores) adds / uses only each
database's own images as training rows, to ask whether better covered items would rank better. Writes ``bench/results/open_vocab_dcmq_emoji/PART-NAME.{json,md,png}``.

Selection rule of the first candidates (issue 24; committed in 51a1c38 before any was scored on a held-out
column; K = 16, ``w_quant``, ``warmup_epochs``, the removed ``codebook_pool`` option, whose ``pool`` part of this
script is at commit 2876882): S = the codes' share of the float teacher on the emoji-fit val half, mean of P@10
and mAP over seeds 0-2; the split.val drawings' share at most 0.03 below the baseline's; chosen if S beats the baseline's.

Selection rule of the score-aware codes (issue 24; committed before any of them is scored on the benchmark):
the candidates are DCMQ 64 ``--preset open-vocab`` with ``quant_parallel_weight`` eta = 2, 4 or 16 (the weights
``(D - 1) T^2 / (1 - T^2)`` of anisotropic quantization for a query-item cosine threshold T of about 0.07, 0.1
and 0.2 at D = 384) and the preset itself (eta = 1), seeds 0, 1, 2 each, trained interleaved. Score V = the mean over
seeds of the codes' (ADC) P@10 share of the float teacher, averaged over the two validation databases of
``validation`` (emoji-fit val half, split.val drawings). The pick is the smallest eta whose V is within 0.01 of
the highest V (the simpler setting wins near-ties; eta = 1 is the simplest). All four are then scored on the
benchmark (``bench/open_vocab_dcmq_targets.py``, the same runs): the pick as the result, the others as an ablation.

Selection rule of the second-domain rows and the OPQ rotation (issue 24, on the short-view teacher, own collections'
default ``lite0-prior:openclipart-224-short`` = the seed-0 fit ``teacher24d/.../lite0-prior-wide224short-seed0``, same
features; committed before any of these candidates is scored on the benchmark):

* candidates: DCMQ 64 ``--preset open-vocab`` plus (a) ``extra_pairs`` = the emoji-fit glyphs of the pool half
  (:func:`pool_half`: 353 glyphs of 16 subgroups, written by ``pairs --half pool``, caption = CLDR name + keywords),
  (b) ``pq_rotation=opq``, (c) both; and the preset itself; seeds 0, 1, 2 each. Plain PQ (``pq``) and
  ``pq --set rotation=opq`` are references beside them, not candidates for DCMQ's setting.
* validation databases (``validation``): the emoji-fit val half (the 416 glyphs of the 26 subgroups :func:`pool_half`
  keeps out of the pool, so no candidate's fit rows hold one; the short-view teacher itself fitted on every emoji-fit
  glyph, so the shares compare codes and teacher on items the teacher has seen) and the 500 split.val drawings.
* score V = the mean over seeds of the codes' (ADC) P@10 share of the float teacher, averaged over the two validation
  databases. The pick is the candidate with the highest V; it replaces the preset only if its V beats the preset's
  by more than 0.01 and its split.val drawings share is at most 0.03 below the preset's; otherwise the preset stays.
* then on the benchmark (``bench/open_vocab_dcmq_targets.py``): the preset and plain PQ (the baselines, 3 seeds), the
  pick, and every other candidate and the OPQ reference as ablations. If the pick uses ``extra_pairs``, its benchmark
  row is trained with every emoji-fit glyph (``pairs --half all``: 769 glyphs of the 42 subgroups, still no held-out
  one), the setting a user would run, and the validated pool-half runs are scored beside it.

References beside that rule (``quantizers``; added after the candidates' validation, before any of them is scored on
the benchmark): the four 64-bit quantizers of :data:`QUANTIZERS` on the teacher's own features, seeds 0-2, scored on
the validation databases and on the benchmark's (``--held-out``) alike. Nothing is selected from them: they show
what a different quantizer family could keep, for a later rule.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.open_vocab.stages import StageRankers as Rankers, pq_reconstruct as _reconstruct, score_ranking as _score

from distilhash.benchmark.open_vocab.quantizers import QUANTIZERS, l2_scores as _l2_scores
from distilhash.benchmark.run_rows import mean_std, summarise_rows, write_rows

VAL_DOMAINS = ("emoji-fit (val half)", "val drawings")
COVER_DOMAINS = ("fit drawings", "val drawings", "query drawings (held out)", "emoji-fit (pool half)", "emoji-fit (val half)",
                 "emoji (held out)")
#: salt of the hash that splits the emoji-fit subgroups into the codebook pool and the validation half
POOL_SALT = "distilhash dcmq codebook pool v1"
STAGES = ("float teacher", "float student", "codes, ADC")
SELECTION = {
    "queries": "none: a diagnosis of trained runs (reads the held-out emoji glyphs, selects nothing)",
    "validation": "none: figures on validation databases only (emoji-fit glyphs, split.val drawings); DCMQ epoch: split.val label mAP",
    "coverage": "none: a diagnosis of trained runs (reads the held-out databases, selects nothing)",
    "quantizers": "none: references on validation databases only (emoji-fit val half, split.val drawings)",
    "quantizers-held-out": "none: references scored on the benchmark databases after the rule of the docstring was committed",
}
_CACHE: dict[str, Any] = {}


def _inputs(run: Path) -> tuple[str, Any, Any]:
    from distilhash.pipeline.inputs import dataset_for_model, load_features_and_split, teacher_for_model

    teacher = teacher_for_model(run)
    key = f"feats-{teacher}"
    if key not in _CACHE:
        _, split, feats, _ = load_features_and_split(dataset_for_model(run), teacher)
        _CACHE[key] = (split, feats)
    return (teacher, *_CACHE[key])


def pool_half(subgroup: str) -> bool:
    """True when an emoji-fit subgroup goes to the codebook pool (a salted hash, half of them); else validation."""
    import hashlib

    return hashlib.sha256(f"{POOL_SALT}/{subgroup}".encode()).digest()[0] % 2 == 0


def _glyphs(held_out: bool, teacher_name: str, half: str | None = None) -> tuple[list[str], np.ndarray]:
    """Titles and teacher image features of the emoji glyphs (cached under $DISTILHASH_HOME/open_vocab/);
    ``half`` "pool" / "val": only the emoji-fit glyphs of that half (:func:`pool_half`)."""
    from distilhash.benchmark.open_vocab.scoring import _cache_key, _cached
    from distilhash.data.emoji_glyphs import emoji_glyphs
    from distilhash.paths import home
    from distilhash.teachers.registry import create_teacher, teacher_slug

    dom = emoji_glyphs(held_out, 128)
    name = "emoji" if held_out else "emoji-fit"
    img = _cached(home() / "open_vocab" / teacher_slug(teacher_name) / f"{name}-{_cache_key(teacher_name, dom.ids)}.npy",
                  lambda: create_teacher(teacher_name).encode_images(dom.images, progress=True))
    if half is None:
        return dom.titles, img
    keep = [i for i, g in enumerate(dom.meta["subgroup"]) if pool_half(g) == (half == "pool")]
    return [dom.titles[i] for i in keep], img[keep]


def write_pairs(teacher_name: str, half: str, out: Path) -> dict[str, Any]:
    """Write DCMQ's ``extra_pairs`` file (:mod:`distilhash.methods.dcmq_extra`): the teacher's image and caption
    features ``[P, D]`` of the emoji-fit glyphs (``half`` "pool": the subgroups :func:`pool_half` puts in the pool,
    which leaves the val half unseen; "all": every emoji-fit glyph). Never a held-out glyph. The caption is the
    ``emoji-fit`` pair source's (CLDR name. keywords), the text the teacher itself may fit on."""
    from distilhash.benchmark.open_vocab.scoring import _cache_key, _cached
    from distilhash.data.emoji_glyphs import emoji_glyphs, emoji_held_out
    from distilhash.io_utils import atomic_write_json
    from distilhash.paths import home
    from distilhash.teachers.pair_sources import PAIR_SOURCES
    from distilhash.teachers.registry import create_teacher, teacher_slug

    if half not in ("pool", "all"):
        raise SystemExit(f"pairs: --half {half!r}; expected pool or all")
    dom, pairs = emoji_glyphs(False, 128), PAIR_SOURCES.get("emoji-fit")(size=128)
    if pairs.ids != dom.ids:
        raise SystemExit("pairs: the emoji-fit pair source and the emoji-fit glyphs list different items")
    _, img = _glyphs(False, teacher_name)
    txt = _cached(home() / "open_vocab" / teacher_slug(teacher_name) / f"emoji-fit-captions-{_cache_key(teacher_name, pairs.texts)}.npy",
                  lambda: create_teacher(teacher_name).encode_texts(pairs.texts))
    keep = [i for i, g in enumerate(dom.meta["subgroup"]) if half == "all" or pool_half(g)]
    assert not any(emoji_held_out(dom.meta["subgroup"][i]) for i in keep)
    out.parent.mkdir(parents=True, exist_ok=True)
    fingerprint = str(create_teacher(teacher_name).fingerprint or "")  # dcmq_extra refuses pairs of another fit
    np.savez(out, image=img[keep], text=txt[keep], teacher_fingerprint=np.array(fingerprint))
    info = {"teacher": teacher_name, "teacher_fingerprint": fingerprint, "half": half, "n": len(keep), "subgroups": sorted({dom.meta["subgroup"][i] for i in keep}),
            "ids": [dom.ids[i] for i in keep], "captions": [pairs.texts[i] for i in keep]}
    atomic_write_json(out.with_suffix(".json"), info)
    return info


def _nouns(teacher_name: str) -> np.ndarray:
    from distilhash.benchmark.open_vocab.scoring import _cache_key, _cached
    from distilhash.benchmark.open_vocab.vocab import load_query_list
    from distilhash.paths import home
    from distilhash.teachers.registry import create_teacher, teacher_slug

    nouns = load_query_list(None).nouns
    return _cached(home() / "open_vocab" / teacher_slug(teacher_name) / f"queries-{_cache_key(teacher_name, nouns)}.npy",
                   lambda: create_teacher(teacher_name).encode_texts(nouns))


def domains(run: Path, names: tuple[str, ...]) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """``{name: (image features [N, D], relevance [Q, N] bool or None)}`` of the named image domains."""
    from distilhash.benchmark.open_vocab.domains import openclipart_titles
    from distilhash.benchmark.open_vocab.scoring import relevance
    from distilhash.benchmark.open_vocab.vocab import load_query_list

    teacher, split, feats = _inputs(run)
    key = f"dom-{teacher}-{names}"
    if key in _CACHE:
        return _CACHE[key]
    qlist, out = load_query_list(None), {}
    rows = {"fit drawings": split.fit, "val drawings": split.val, "query drawings (held out)": split.query}
    for name in names:
        if name in rows:
            idx = np.asarray(rows[name])
            rel = relevance(qlist, openclipart_titles([feats.ids[i] for i in idx])) if name != "fit drawings" else None
            out[name] = (np.asarray(feats.image[idx], np.float32), rel)
        else:
            titles, img = _glyphs(name == "emoji (held out)", teacher,
                                  None if name == "emoji (held out)" else name.split("(")[1].split()[0])
            out[name] = (img, relevance(qlist, titles))
    _CACHE[key] = out
    return out


def validation(run: Path) -> dict[str, Any]:
    """Every stage x validation domain: P@10 and mAP@all (queries with a relevant item), and the run's val label mAP."""
    import json

    from distilhash.methods.base import load_method

    teacher = _inputs(run)[0]
    rk, text = Rankers(load_method(run)), _nouns(teacher)
    train = json.loads((run / "train.json").read_text())
    out: dict[str, Any] = {"run": str(run), "seed": train.get("seed"), "teacher": teacher,
                           "val label mAP": float(np.mean(list(train["map_all"]["val"].values())))}
    for stage in STAGES:
        row = {}
        for name, (img, rel) in domains(run, VAL_DOMAINS).items():
            keep = np.flatnonzero(rel.any(axis=1))
            s = _score(rk.encode(stage, "text", text[keep]), rk.encode(stage, "image", img), rel[keep])
            row[f"{name} P@10"], row[f"{name} mAP"] = s["p_at_10"], s["map_all"]
            row[f"{name} queries"] = int(len(keep))
        out[stage] = row
    return out


def coverage(run: Path, held_out: bool = True) -> dict[str, Any]:
    """Per image domain: reconstruction error, ADC score noise and codeword usage of the run's image codes."""
    from distilhash.methods.base import load_method
    from distilhash.quantizers.pqg import codeword_usage

    import json

    model, teacher = load_method(run), _inputs(run)[0]
    text = model.encode("text", _nouns(teacher), role="query").data
    out: dict[str, Any] = {"run": str(run), "seed": json.loads((run / "train.json").read_text()).get("seed"), "teacher": teacher}
    names = COVER_DOMAINS if held_out else tuple(d for d in COVER_DOMAINS if "held out" not in d)
    for name, (img, _) in domains(run, names).items():
        z = model.encode("image", img, role="query").data
        codes = model.encode("image", img, role="database")
        q = _reconstruct(codes.data, codes.codebooks)
        s_z, s_q = z @ text.T, q @ text.T  # [N, Q]
        usage = codeword_usage(codes.data, codes.codebooks.shape[1])
        par = (((z - q) * z).sum(1) ** 2 / (z ** 2).sum(1).clip(1e-12)).mean()  # |r_par|^2, the score-aware part
        out[name] = {"n": int(len(z)), "rel_recon_error": float(((z - q) ** 2).sum(1).mean() / (z ** 2).sum(1).mean()),
                     "rel_parallel_error": float(par / (z ** 2).sum(1).mean()),
                     "adc_noise": float(np.mean((s_q - s_z).std(0) / s_z.std(0).clip(1e-12))),
                     "distinct_codewords": float(np.mean([len(np.unique(c)) for c in codes.data.T])),
                     "perplexity": usage["mean_perplexity"], "n_codewords": int(codes.codebooks.shape[1])}
    return out


def query_hits(run: Path) -> dict[str, Any]:
    """Relevant items in the top 10 per noun query on the held-out emoji glyphs, for each stage."""
    import json

    from distilhash.benchmark.open_vocab.vocab import load_query_list
    from distilhash.methods.base import load_method

    model = load_method(run)
    if getattr(model.config, "similarity", None) != "ip":
        raise SystemExit(f"{run}: the queries part ranks ADC as <query, reconstruction>: DCMQ runs with similarity=ip only")
    rk, teacher = Rankers(model), _inputs(run)[0]
    text = _nouns(teacher)
    img, rel = domains(run, ("emoji (held out)",))["emoji (held out)"]
    keep = np.flatnonzero(rel.any(axis=1))
    out: dict[str, Any] = {"run": str(run), "seed": json.loads((run / "train.json").read_text()).get("seed"), "teacher": teacher,
                           "nouns": [load_query_list(None).nouns[i] for i in keep], "n_relevant": rel[keep].sum(1).tolist()}
    for stage in STAGES:
        q, db = rk.encode(stage, "text", text[keep]), rk.encode(stage, "image", img)
        x = _reconstruct(db.data, db.codebooks) if db.kind == "pq" else db.data
        top = np.argsort(-(q.data @ x.T), axis=1, kind="stable")[:, :10]
        out[stage] = np.take_along_axis(rel[keep], top, 1).sum(1).tolist()
    return out


#: ``--fit-on`` of the quantizers part: the training rows given split.fit's image + text rows and a database's images
FIT_ON = {"fit": lambda fit, db: fit, "fit+db": lambda fit, db: np.concatenate([fit, db]), "db": lambda fit, db: db}


def quantizer_figures(run: Path, name: str, seed: int, held_out: bool, fit_on: str = "fit") -> dict[str, Any]:
    """One quantizer x seed: per database the P@10 / mAP of the reconstructions and the teacher's, and the
    relative reconstruction error; ``fit_on`` names the training rows (:data:`FIT_ON`)."""
    teacher, split, feats = _inputs(run)
    fit = np.asarray(split.fit)
    train = np.ascontiguousarray(np.concatenate([feats.image[fit], feats.text[fit]]), dtype=np.float32)
    recon = QUANTIZERS[name](train, seed) if fit_on == "fit" else None
    text = _nouns(teacher)
    names = VAL_DOMAINS + (("query drawings (held out)", "emoji (held out)") if held_out else ())
    out: dict[str, Any] = {"quantizer": name, "seed": seed, "teacher": teacher, "fit_on": fit_on}
    for dom, (img, rel) in domains(run, names).items():
        keep = np.flatnonzero(rel.any(axis=1))
        x = np.ascontiguousarray(img, dtype=np.float32)
        r = (recon or QUANTIZERS[name](np.ascontiguousarray(FIT_ON[fit_on](train, x)), seed))(x)
        (p, m), (tp, tm) = _l2_scores(text[keep], r, rel[keep]), _l2_scores(text[keep], x, rel[keep])
        out[dom] = {"P@10": p, "mAP": m, "teacher P@10": tp, "teacher mAP": tm,
                    "rel_recon_error": float(((r - x) ** 2).sum(1).mean() / (x ** 2).sum(1).mean())}
    return out


def summarise(runs: list[dict[str, Any]], part: str) -> dict[str, Any]:
    row: dict[str, Any] = {"runs": runs, "n_seeds": len(runs)}
    if part == "quantizers":
        doms = [d for d in runs[0] if isinstance(runs[0][d], dict)]
        row["domains"] = {d: {**{f"{f} x": mean_std([r[d][f] / r[d][f"teacher {f}"] for r in runs]) for f in ("P@10", "mAP")},
                              "rel_recon_error": mean_std([r[d]["rel_recon_error"] for r in runs]),
                              "teacher P@10": runs[0][d]["teacher P@10"]} for d in doms}
        return row
    if part == "queries":
        hits = {s: np.mean([r[s] for r in runs], axis=0) for s in STAGES}
        loss = hits["codes, ADC"] - hits["float teacher"]
        order = np.argsort(loss, kind="stable")
        row["total_hits"] = {s: float(h.sum()) for s, h in hits.items()}
        row["worst"] = [{"noun": runs[0]["nouns"][i], "relevant": runs[0]["n_relevant"][i],
                         **{s: float(hits[s][i]) for s in STAGES}} for i in order[:8]]
        rest = np.ones(len(loss), bool)
        rest[order[0]] = False
        row["share_without_worst"] = {s: float(hits[s][rest].sum() / hits["float teacher"][rest].sum()) for s in STAGES[1:]}
        return row
    if part == "coverage":
        row["domains"] = {d: {k: mean_std([r[d][k] for r in runs]) for k in runs[0][d]} for d in COVER_DOMAINS if d in runs[0]}
        row["domains_listed"] = list(row["domains"])
        return row
    checks = [c for c in runs[0][STAGES[0]] if not c.endswith("queries")]
    row["stages"] = {s: {c: mean_std([r[s][c] for r in runs]) for c in checks} for s in STAGES}
    row["vs_teacher"] = {s: {c: mean_std([r[s][c] / max(r["float teacher"][c], 1e-12) for r in runs]) for c in checks}
                         for s in STAGES[1:]}
    row["queries"] = {d: runs[0]["float teacher"][f"{d} queries"] for d in VAL_DOMAINS}
    row["val label mAP"] = mean_std([r["val label mAP"] for r in runs])
    return row


def markdown(r: dict[str, Any]) -> str:
    part = r.get("part", "validation")
    lines = [f"# DCMQ 64-bit codes on unseen glyphs: {part} (teacher `{r['teacher']}`)", ""]
    if part == "quantizers":
        doms = list(next(iter(r["rows"].values()))["domains"])
        lines[0] = f"# 64-bit quantizers of the teacher's own features (no DCMQ), teacher `{r['teacher']}`"
        lines += ["Fitted on the image + text rows of split.fit; items ranked by L2 to their reconstruction; the committed "
                  "nouns (queries with a relevant item). Share of the float teacher's P@10 / mAP on the same items, "
                  "mean +- sample std over seeds, and the relative reconstruction error |x - r|^2 / |x|^2.", "",
                  "| quantizer | seeds | " + " | ".join(f"{d}: P@10 x | mAP x | error" for d in doms) + " |",
                  "|---|---|" + "---|---|---|" * len(doms)]
        for name, row in r["rows"].items():
            cells = [f"{v['P@10 x'][0]:.2f}x +- {v['P@10 x'][1]:.2f} | {v['mAP x'][0]:.2f}x +- {v['mAP x'][1]:.2f} | "
                     f"{v['rel_recon_error'][0]:.3f}" for v in row["domains"].values()]
            lines.append(f"| {name} | {row['n_seeds']} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"
    if part == "queries":
        lines += ["Held-out emoji glyphs: relevant glyphs in the top 10 summed over the noun queries (P@10 x 10 x queries), "
                  "mean over seeds; the queries the codes lose most against the float teacher; and each stage's share of "
                  "the teacher's hits without the worst query.", "",
                  "| configuration | seeds | top-10 hits: teacher / float student / codes ADC | worst queries (relevant glyphs: "
                  "teacher / student / ADC hits) | share without the worst: student / ADC |", "|---|---|---|---|---|"]
        for name, row in r["rows"].items():
            t = row["total_hits"]
            worst = "; ".join(f"{w['noun']} ({w['relevant']}: {w['float teacher']:.1f} / {w['float student']:.1f} / "
                              f"{w['codes, ADC']:.1f})" for w in row["worst"][:5])
            sh = row["share_without_worst"]
            lines.append(f"| {name} | {row['n_seeds']} | {t['float teacher']:.1f} / {t['float student']:.1f} / {t['codes, ADC']:.1f} "
                         f"| {worst} | {sh['float student']:.2f}x / {sh['codes, ADC']:.2f}x |")
        return "\n".join(lines) + "\n"
    if part == "coverage":
        lines += ["Image codes per domain: relative reconstruction error |z - q|^2 / |z|^2, ADC score noise (std of "
                  "<t, q> - <t, z> over items / std of <t, z>, mean over the 176 nouns), distinct codewords used per "
                  "codebook and code perplexity (of K codewords); the parallel part of the error, <z - q, z>^2 / |z|^2 "
                  "over |z|^2. Mean +- sample std over seeds.", "",
                  "| configuration | domain | items | recon error (parallel part) | ADC noise | distinct codewords | perplexity |",
                  "|---|---|---|---|---|---|---|"]
        for name, row in r["rows"].items():
            for d, v in row["domains"].items():
                par = f" ({v['rel_parallel_error'][0]:.3f})" if "rel_parallel_error" in v else ""
                lines.append(f"| {name} | {d} | {v['n'][0]:.0f} | {v['rel_recon_error'][0]:.3f} +- {v['rel_recon_error'][1]:.3f}{par} | "
                             f"{v['adc_noise'][0]:.3f} +- {v['adc_noise'][1]:.3f} | {v['distinct_codewords'][0]:.1f} of "
                             f"{v['n_codewords'][0]:.0f} | {v['perplexity'][0]:.1f} |")
        return "\n".join(lines) + "\n"
    first = next(iter(r["rows"].values()))
    lines += ["Validation databases only (no benchmark database): the committed nouns vs the emoji-fit glyphs "
              f"val half ({first['queries']['emoji-fit (val half)']} queries with a relevant glyph) and the split.val drawings "
              f"({first['queries']['val drawings']} queries), relevance = the title names the noun. Mean +- sample std "
              "over seeds; x = share of the float teacher's figure.", "",
              "| configuration | seeds | stage | emoji-fit val half P@10 | x | emoji-fit val half mAP | x | val drawings P@10 | x | "
              "val drawings mAP | x | val label mAP |", "|---" * 12 + "|"]
    for name, row in r["rows"].items():
        for s in STAGES[1:]:
            cells = []
            for d in VAL_DOMAINS:
                for f in ("P@10", "mAP"):
                    m, sd = row["stages"][s][f"{d} {f}"]
                    cells += [f"{m:.3f} +- {sd:.3f}", f"{row['vs_teacher'][s][f'{d} {f}'][0]:.2f}x"]
            lab = row["val label mAP"]
            lines.append(f"| {name} | {row['n_seeds']} | {s} | " + " | ".join(cells) + f" | {lab[0]:.3f} +- {lab[1]:.3f} |")
    t = first["stages"]["float teacher"]
    lines += ["", "Float teacher: " + "; ".join(f"{d} P@10 {t[f'{d} P@10'][0]:.3f}, mAP {t[f'{d} mAP'][0]:.3f}" for d in VAL_DOMAINS) + "."]
    return "\n".join(lines) + "\n"


def _plot(r: dict[str, Any], path: Path) -> None:
    from distilhash.benchmark.figures import figure

    names = list(r["rows"])
    with figure(path, figsize=(8, 0.6 * len(names) + 1.8)) as (fig, ax):
        y = np.arange(len(names))
        if r.get("part") == "quantizers":
            doms = list(r["rows"][names[0]]["domains"])
            for i, d in enumerate(doms):
                ax.barh(y + 0.8 / len(doms) * i, [r["rows"][n]["domains"][d]["P@10 x"][0] for n in names], height=0.8 / len(doms),
                        xerr=[r["rows"][n]["domains"][d]["P@10 x"][1] for n in names], label=d)
            ax.axvline(0.9, color="k", ls="--", lw=1)
            ax.set_title("64-bit quantizers of the teacher features: share of the teacher's P@10 (0.9x dashed)", fontsize=9)
        elif r.get("part") == "queries":
            for i, s in enumerate(STAGES):
                ax.barh(y + 0.27 * i, [r["rows"][n]["total_hits"][s] for n in names], height=0.27, label=s)
            ax.set_title("Held-out emoji: relevant glyphs in the top 10, summed over the queries", fontsize=9)
        elif r.get("part") == "coverage":
            for i, d in enumerate(next(iter(r["rows"].values()))["domains_listed"]):
                ax.barh(y + 0.16 * i, [r["rows"][n]["domains"][d]["adc_noise"][0] for n in names], height=0.16, label=d)
            ax.set_title("ADC score noise of the image codes per domain (lower = better covered)", fontsize=9)
        else:
            for i, d in enumerate(VAL_DOMAINS):
                ax.barh(y + 0.4 * i, [r["rows"][n]["vs_teacher"]["codes, ADC"][f"{d} P@10"][0] for n in names], height=0.4,
                        xerr=[r["rows"][n]["vs_teacher"]["codes, ADC"][f"{d} P@10"][1] for n in names], label=f"{d}: codes' P@10 / teacher's")
            ax.axvline(0.9, color="k", ls="--", lw=1)
            ax.set_title("Validation: DCMQ codes' share of the float teacher's P@10 (0.9x dashed)", fontsize=9)
        ax.set_yticks(y + 0.2, names, fontsize=7)
        ax.invert_yaxis()
        ax.legend(fontsize=7)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("part", choices=("validation", "coverage", "queries", "pairs", "quantizers"))
    p.add_argument("--row", action="append", help="LABEL=RUN[,RUN...] (the seeds of one configuration)")
    p.add_argument("--teacher", help="pairs: the teacher spec whose features are written")
    p.add_argument("--half", default="pool", help="pairs: pool (the pool half of the emoji-fit subgroups) or all")
    p.add_argument("--out", type=Path, help="pairs: the .npz to write (a .json of what it holds beside it)")
    p.add_argument("--name", default="emoji")
    p.add_argument("--no-held-out", action="store_true", help="coverage: leave out the held-out databases (while selecting)")
    p.add_argument("--held-out", action="store_true", help="quantizers: also the held-out (benchmark) databases")
    p.add_argument("--run", type=Path, help="quantizers: a run on the teacher whose features are quantized")
    p.add_argument("--quantizer", action="append", choices=sorted(QUANTIZERS), help="quantizers: which (repeat)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="quantizers: seeds")
    p.add_argument("--fit-on", choices=sorted(FIT_ON), default="fit", help="quantizers: training rows (fit+db, db: a diagnosis)")
    a = p.parse_args(argv)
    if a.part == "pairs":
        if not (a.teacher and a.out):
            raise SystemExit("pairs needs --teacher and --out")
        info = write_pairs(a.teacher, a.half, a.out)
        print(f"{a.out}: {info['n']} glyph pairs of {len(info['subgroups'])} subgroups")
        return
    if a.part == "quantizers":
        if not (a.run and a.quantizer):
            raise SystemExit("quantizers needs --run and at least one --quantizer")
        rows = {}
        for q in a.quantizer:
            label = q if a.fit_on == "fit" else f"{q}, codebooks fitted on {a.fit_on} (diagnosis)"
            rows[label] = summarise([quantizer_figures(a.run, q, s, a.held_out, a.fit_on) for s in a.seeds], a.part)
            print(label, {d: round(v["P@10 x"][0], 3) for d, v in rows[label]["domains"].items()}, flush=True)
        sel = SELECTION["quantizers" if not a.held_out else "quantizers-held-out"] + (
            "" if a.fit_on == "fit" else f"; codebooks fitted on {a.fit_on} (a diagnosis: each database's own images)")
        write_rows("open_vocab_dcmq_emoji", f"quantizers-{a.name}", rows, sel,
                   lambda r: markdown({**r, "part": a.part}), lambda r, path: _plot({**r, "part": a.part}, path))
        return
    if not a.row:
        raise SystemExit(f"{a.part} needs at least one --row")
    score = {"validation": validation, "coverage": lambda run: coverage(run, not a.no_held_out), "queries": query_hits}[a.part]
    rows = summarise_rows(a.row, lambda runs: summarise([score(r) for r in runs], a.part),
                          lambda label, row: print(label, flush=True))
    write_rows("open_vocab_dcmq_emoji", f"{a.part}-{a.name}", rows, SELECTION[a.part],
               lambda r: markdown({**r, "part": a.part}), lambda r, path: _plot({**r, "part": a.part}, path))


if __name__ == "__main__":
    main()
