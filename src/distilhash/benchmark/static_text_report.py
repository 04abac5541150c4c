"""The static query text encoder against the teacher's text tower (``bench/static_query_encoder.py``): timing and report.

Usage::

    results = score_arms(method, {"teacher": (tq, tdb), "static seed 0": (sq, sdb)}, image, labels, q, db, ["static seed 0"], "static")
    timing = mean_std_runs(cpu_ms_per_call(encoder.encode, captions, repeats=3))   # CPU ms per single query
    examples = example_precision(ds, db, img_db, {"static": enc.encode}, method)    # P@10 of the demo's queries
    text = markdown(result, "openclipart", split_hash); plot(result, path)

``result["map_all"][arm]`` holds per text-feature arm (teacher, each static seed, their mean with
``std``) the model's t2i, the float teacher's t2i, i2t against a text database and the cosine to
the teacher's query features; ``result["cpu_ms_per_single_query"]`` the timings. :func:`typed_nouns_markdown`:
the same comparison on typed nouns (``bench/open_vocab_static.py``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.figures import figure

__all__ = ["score_arms", "cpu_ms_per_call", "mean_std_runs", "example_precision", "markdown", "tuning_lines", "plot", "typed_nouns_markdown"]


def score_arms(method, arms: dict[str, tuple[np.ndarray, np.ndarray]], image: np.ndarray, labels: np.ndarray, q: np.ndarray,
               db: np.ndarray, seed_arms: list[str], pooled: str) -> dict[str, dict]:
    """Per text-feature arm (name -> (query [n_q, D], database [n_db, D]) caption features; ``"teacher"`` among them):
    the model's t2i against its image database codes, its i2t against a text database encoded from the arm, the float
    teacher's t2i (cosine to ``image[db]``) and the cosine to the teacher's query features (mean, 10th percentile),
    each also as a share of the teacher arm's; ``pooled``: the mean of ``seed_arms`` with its sample std (0.0 for one)."""
    from distilhash.codes import Encoded
    from distilhash.eval.metrics import evaluate

    img_db = method.encode("image", image[db], "database")
    img_q = method.encode("image", image[q], "query")
    lab_q, lab_db = labels[q], labels[db]
    tq_unit = arms["teacher"][0] / np.linalg.norm(arms["teacher"][0], axis=1, keepdims=True)
    results: dict[str, dict] = {}
    for arm, (fq, fdb) in arms.items():
        t2i = evaluate(method.encode("text", fq, "query"), img_db, lab_q, lab_db, curves=False).map_all
        i2t = evaluate(img_q, method.encode("text", fdb, "database"), lab_q, lab_db, curves=False).map_all
        ft2i = evaluate(Encoded("float", fq, 32 * fq.shape[1]), Encoded("float", image[db].astype(np.float32), 32 * fq.shape[1]),
                        lab_q, lab_db, curves=False).map_all
        cos = (fq / np.linalg.norm(fq, axis=1, keepdims=True) * tq_unit).sum(1)
        results[arm] = {"model_t2i": round(float(t2i), 5), "model_i2t_text_db": round(float(i2t), 5),
                        "float_teacher_t2i": round(float(ft2i), 5), "cosine_to_teacher_mean": round(float(cos.mean()), 5),
                        "cosine_to_teacher_p10": round(float(np.percentile(cos, 10)), 5)}
    for arm in results:
        for key in ("model_t2i", "float_teacher_t2i", "model_i2t_text_db"):
            results[arm][f"{key}_vs_teacher"] = round(results[arm][key] / results["teacher"][key], 4)
    seeds = [results[a] for a in seed_arms]
    results[pooled] = {k: round(float(np.mean([r[k] for r in seeds])), 5) for k in seeds[0]}
    results[pooled]["std"] = {k: round(float(np.std([r[k] for r in seeds], ddof=1)), 5) if len(seeds) > 1 else 0.0
                              for k in seeds[0]}
    return results


def cpu_ms_per_call(fn, items, repeats: int) -> list[float]:
    """CPU ms per call of ``fn([item])`` over ``items``, once per repeat."""
    fn(items[:3])  # warm
    out = []
    for _ in range(repeats):
        c0 = time.process_time()
        for t in items:
            fn([t])
        out.append((time.process_time() - c0) * 1e3 / len(items))
    return out


def mean_std_runs(xs: list[float]) -> dict[str, float]:
    """``{"mean", "std" (sample; 0.0 for one run), "runs"}``, rounded to 5 decimals."""
    return {"mean": round(float(np.mean(xs)), 5), "std": round(float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0, 5),
            "runs": [round(x, 5) for x in xs]}


def example_precision(ds, db: np.ndarray, img_db, text_fns: dict, method, examples, resolve_label) -> dict:
    """Precision@10 by label of typed example queries (``examples``: items with ``text`` and ``label``, the demo's
    ten; ``resolve_label(label, label_names)`` -> label column), per text encoder (top 10 of the retrieval images)."""
    import tempfile

    from distilhash.codes import CodeKind
    from distilhash.index import create_index

    texts = [q.text for q in examples]
    cols = [resolve_label(q.label, ds.label_names) for q in examples]
    extra = {"codebooks": img_db.codebooks, "metric": img_db.metric} if CodeKind.parse(img_db.kind).needs_codebooks else {}
    out = {}
    with tempfile.TemporaryDirectory() as tmp, create_index(Path(tmp) / "ix", kind=img_db.kind, n_bits=img_db.n_bits, **extra) as idx:
        idx.add([str(int(i)) for i in db], img_db)
        for arm, fn in text_fns.items():
            hits = idx.search(method.encode("text", np.asarray(fn(texts), np.float32), "query"), 10)
            p = [float(np.mean([ds.labels[int(i), c] for i in h.ids])) for h, c in zip(hits, cols)]
            out[arm] = {"p10": [round(x, 2) for x in p], "queries_at_least_0.5": int(sum(x >= 0.5 for x in p))}
    return {"queries": texts, "labels": [q.label for q in examples], "by_encoder": out}


def markdown(r: dict, dataset: str, split_hash: str) -> str:
    """The mAP table per text-feature arm (x teacher), tuning lines, example queries, CPU time per query."""
    s = r["static_encoder"]
    rep = s.get("report", {})
    lines = [f"# Static query text encoder vs the teacher's text tower ({dataset})", "",
             f"Model: {r['method']} {r['bits']} bits (`{r['model']}`), teacher `{r['teacher']}`, split {split_hash[:12]}; "
             f"{r['n_query']} `split.query` captions vs {r['n_database']:,} `split.retrieval` items.  ",
             f"Static encoder: {s['tower']['name']} distilled with model2vec {s['distill']['settings']['model2vec']} "
             f"(PCA {s['distill']['settings']['pca_dims']}, SIF {s['distill']['settings']['sif_coefficient']}), ridge map "
             f"(alpha {rep.get('alpha_relative')}, by leave-one-out cosine) fitted on the {rep.get('n_fit')} `split.train` captions; "
             f"fingerprint `{s['fingerprint']}` (seed {r['static_seeds'][0]}).", "",
             *tuning_lines(r), "",
             "mAP@all. *model t2i*: the query text features through the model's query head against its image codes (what "
             "search and the service do); *float teacher t2i*: cosine against the teacher's image features; *model i2t, "
             "text db*: image queries against text codes made from each arm's caption features.", "",
             "| text features | model t2i | (vs teacher) | float teacher t2i | (vs teacher) | model i2t, text db | cosine to teacher (mean / p10) |",
             "|---|---|---|---|---|---|---|"]
    for arm, m in r["map_all"].items():
        sd = m.get("std") or {}
        pm = lambda k, f: f"{m[k]:{f}}" + (f" ± {sd[k]:{f}}" if k in sd else "")  # noqa: E731
        name = f"**{arm}** (mean ± sample std, {len(r['static_seeds'])} seeds)" if arm == "static" else arm
        lines.append(f"| {name} | {pm('model_t2i', '.4f')} | {pm('model_t2i_vs_teacher', '.4f')}x | {pm('float_teacher_t2i', '.4f')} | "
                     f"{pm('float_teacher_t2i_vs_teacher', '.4f')}x | {pm('model_i2t_text_db', '.4f')} | "
                     f"{m['cosine_to_teacher_mean']:.3f} / {m['cosine_to_teacher_p10']:.3f} |")
    if r.get("light_encoder"):
        lines += ["", f"light+fallback: {100 * r['light_encoder']['query_share_falling_back']:.1f} % of the query captions have an "
                  f"unknown content word (max_oov {r['light_encoder']['max_oov']}) and go to the teacher."]
    ex = r.get("example_queries_p10")
    if ex:
        arms = list(ex["by_encoder"])
        lines += ["", "## The demo's ten typed example queries: precision@10 by their label", "",
                  "| query | label | " + " | ".join(arms) + " |", "|---|---|" + "---|" * len(arms)]
        for i, (q, lab) in enumerate(zip(ex["queries"], ex["labels"])):
            lines.append(f"| {q} | `{lab}` | " + " | ".join(f"{ex['by_encoder'][a]['p10'][i]:.1f}" for a in arms) + " |")
        lines.append("| **queries at >= 0.5** | | " + " | ".join(f"**{ex['by_encoder'][a]['queries_at_least_0.5']}**" for a in arms) + " |")
    lines += ["", "## CPU time per single query (one caption per call; mean ± sample std over runs)", "",
              "| encoder | CPU ms / query |", "|---|---|"]
    for arm, t in r["cpu_ms_per_single_query"].items():
        lines.append(f"| {arm} | {t['mean']:.4f} ± {t['std']:.4f} |")
    lines += ["", "**The machine was shared** (2 cores, other engineers' jobs running; loads in the provenance): "
              "CPU times (process time), not wall times; a quiet machine gives lower figures.", ""]
    return "\n".join(lines)


def tuning_lines(r: dict) -> list[str]:
    """One line per seed: the split.val score per tuning epoch and the epoch kept."""
    out = ["Table tuning on `split.fit` (kept epoch = highest `split.val` score, epoch 0 = untuned; the query set unused):  "]
    for seed, t in (r.get("static_tuning_by_seed") or {}).items():
        if t:
            out.append(f"seed {seed}: val mAP by epoch {', '.join(f'{v:.4f}' for v in t['val_scores'])}; kept epoch "
                       f"**{t['epoch']}**{'' if t['kept'] else ' (untuned)'}.  ")
    return out


def plot(r: dict, path: Path) -> None:
    """t2i mAP per arm (model and float teacher) and CPU ms per single query (log)."""
    with figure(path, 1, 2, figsize=(10, 3.6)) as (fig, (a1, a2)):
        arms = list(r["map_all"])
        x = np.arange(len(arms))
        err = lambda k: [(r["map_all"][a].get("std") or {}).get(k, 0.0) for a in arms]  # noqa: E731
        a1.bar(x - 0.2, [r["map_all"][a]["model_t2i"] for a in arms], 0.4, yerr=err("model_t2i"), label=f"{r['method']} {r['bits']} bits")
        a1.bar(x + 0.2, [r["map_all"][a]["float_teacher_t2i"] for a in arms], 0.4, yerr=err("float_teacher_t2i"), label="float teacher")
        a1.set_xticks(x, arms, fontsize=8)
        a1.set_ylabel("t2i mAP@all (query set)")
        a1.legend(fontsize=8)
        t = r["cpu_ms_per_single_query"]
        names = list(t)
        a2.barh(names, [t[n]["mean"] for n in names], xerr=[t[n]["std"] for n in names])
        a2.set_xscale("log")
        a2.set_xlabel("CPU ms per single query (log)")
        a2.tick_params(axis="y", labelsize=7)


def typed_nouns_markdown(out: dict[str, Any]) -> str:
    """``bench/open_vocab_static.py``'s result: the static encoder vs the text tower on typed nouns (P@10, R@50, mAP per ranking)."""
    c = out["cos_static_vs_tower"]
    lines = ["# Typed nouns: the static query encoder vs the teacher's text tower", "",
             f"{out['n_queries']} nouns of the committed open-vocabulary list with at least one relevant drawing among "
             f"openclipart `split.query` (relevance: the noun in the title); model `{out['model']}`, teacher "
             f"`{out['teacher']}`. Cosine of the static encoder's query to the tower's: mean {c['mean']:.3f}, "
             f"median {c['median']:.3f}, min {c['min']:.3f}.", "",
             "| ranking | P@10 | R@50 | mAP |", "|---|---|---|---|"]
    for label, r in out["rows"].items():
        lines.append(f"| {label} | {r['p_at']:.3f} | {r['r_at']:.3f} | {r['map_all']:.3f} |")
    return "\n".join(lines) + "\n"
