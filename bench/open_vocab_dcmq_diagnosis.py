"""Where DCMQ's codes lose open-vocabulary precision against their float teacher: one stage at a time.

Usage (trained DCMQ runs on one teacher; several seeds of one configuration per row)::

    DISTILHASH_HOME=... python bench/open_vocab_dcmq_diagnosis.py --name NAME \\
        --row "captions=RUN_s0,RUN_s1,RUN_s2" --row "label prompts=RUN_s0,..."

For every run, the same queries and databases ranked four ways:

* ``float teacher``: teacher text vs teacher image features (cosine), the reference;
* ``float student``: the student's text head vs its image head, both continuous (cosine) - what the
  student towers keep before any quantization;
* ``codes, ADC``: continuous text query vs the images' PQ codes (what DCMQ serves);
* ``codes, symmetric``: the query quantized too (its PQ reconstruction vs the images' codes).

Ranked on the open-vocabulary benchmark (bare nouns vs the held-out drawings / emoji glyphs, title
relevance) and, as an in-distribution check that needs no benchmark query, on ``split.val``:
captions -> images (the true partner is the only relevant item: P@1 and MRR via mAP) and the 163
label prompts -> images (label relevance, mAP). The ratios float student / teacher, ADC / float
student and symmetric / ADC split the loss into the student towers and the quantization.
Writes ``bench/results/open_vocab_dcmq_diagnosis/NAME.{json,md,png}``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.run_rows import mean_std, summarise_rows, write_rows

DOMAINS = ("openclipart", "emoji")
STAGES = ("float teacher", "float student", "codes, ADC", "codes, symmetric")
CHECKS = ("openclipart P@10", "openclipart mAP", "emoji P@10", "emoji mAP", "val caption->image MRR",
          "val label prompt->image mAP")
#: how every figure of the rows was selected (the provenance block)
SELECTION = "none here: the runs as trained (DCMQ epoch: split.val early stopping); the val checks use split.val only"


def _float(x: np.ndarray):
    from distilhash.codes import Encoded

    x = np.ascontiguousarray(x, dtype=np.float32)
    return Encoded("float", x, 32 * x.shape[1])


def _score(q, db, rel: np.ndarray) -> dict[str, float]:
    """P@10 and mAP@all of queries ``q`` over database ``db``; ``rel`` bool ``[nq, nd]``."""
    from distilhash.eval.metrics import evaluate

    nq = rel.shape[0]
    r = evaluate(q, db, np.eye(nq, dtype=np.uint8), rel.T.astype(np.uint8), top_n=(1, 10), tie_aware=True, curves=False)
    return {"p_at_10": float(r.precision_at[10]), "p_at_1": float(r.precision_at[1]), "map_all": float(r.map_all)}


class Rankers:
    """The four ways to rank (module docstring) for one fitted DCMQ run and its teacher."""

    def __init__(self, model) -> None:
        self.model = model

    def encode(self, stage: str, modality: str, feats: np.ndarray):
        m = self.model
        if stage == "float teacher":
            x = feats / np.linalg.norm(feats, axis=1, keepdims=True).clip(1e-12)
            return _float(x)
        if stage == "float student" or (stage == "codes, ADC" and modality == "text"):
            return m.encode(modality, feats, role="query")
        codes = m.encode(modality, feats, role="database")
        if stage == "codes, ADC":
            return codes
        return _float(_reconstruct(codes.data, codes.codebooks))  # symmetric: both sides quantized


def _reconstruct(codes: np.ndarray, books: np.ndarray) -> np.ndarray:
    """PQ reconstruction ``[N, M * d]`` of codes ``[N, M]`` with codebooks ``[M, K, d]``."""
    return np.concatenate([books[m][codes[:, m]] for m in range(books.shape[0])], axis=1)


def run_diagnosis(run: Path) -> dict[str, Any]:
    """Every stage x check for one run (cached under ``$DISTILHASH_HOME/open_vocab_diagnosis/``, keyed by the
    run's path and its weights' content hash)."""
    import hashlib
    import json

    from distilhash.paths import home

    weights = run / "weights.safetensors"
    key = hashlib.sha256(str(run.resolve()).encode() + weights.read_bytes()).hexdigest()[:16]
    cache = home() / "open_vocab_diagnosis" / f"{run.name}-{key}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    out = _diagnose(run)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out, indent=1))
    return out


def _diagnose(run: Path) -> dict[str, Any]:
    import json

    from distilhash.benchmark.open_vocab.scoring import OpenVocabOptions, prepare_domains
    from distilhash.methods.base import load_method
    from distilhash.pipeline.inputs import dataset_for_model, load_features_and_split, teacher_for_model

    teacher = teacher_for_model(run)
    _, split, feats, _ = load_features_and_split(dataset_for_model(run), teacher)
    model = load_method(run)
    rk = Rankers(model)
    domains = prepare_domains(OpenVocabOptions(), teacher, feats, split)
    val = np.asarray(split.val)
    val_rel_labels = (feats.class_text is not None) and (feats.labels[val].sum(0) > 0)
    out: dict[str, Any] = {"run": str(run), "teacher": teacher, "seed": json.loads((run / "train.json").read_text()).get("seed"),
                           "config": {k: model.config_dict().get(k) for k in ("target_text", "caption_weight", "image_head", "text_head",
                                                                               "codebook_init", "embed_dim")}}
    for stage in STAGES:
        row: dict[str, float] = {}
        for d in domains:
            keep = np.flatnonzero(d.relevant.any(axis=1))
            s = _score(rk.encode(stage, "text", d.query_features[keep]), rk.encode(stage, "image", d.image_features),
                       d.relevant[keep])
            row[f"{d.name} P@10"], row[f"{d.name} mAP"] = s["p_at_10"], s["map_all"]
        img = rk.encode(stage, "image", feats.image[val])
        s = _score(rk.encode(stage, "text", feats.text[val]), img, np.eye(len(val), dtype=bool))
        row["val caption->image MRR"] = s["map_all"]  # one relevant item: AP = reciprocal rank
        row["val caption->image P@1"] = s["p_at_1"]
        if feats.class_text is not None:
            cls = np.flatnonzero(val_rel_labels)
            rel = feats.labels[val][:, cls].T.astype(bool)
            row["val label prompt->image mAP"] = _score(rk.encode(stage, "text", feats.class_text[cls]), img, rel)["map_all"]
        out[stage] = row
    return out


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean +- sample std over seeds of every stage x check, and of the stage-to-stage ratios."""
    row: dict[str, Any] = {"runs": runs, "n_seeds": len(runs), "stages": {}, "ratios": {}}
    checks = [c for c in runs[0][STAGES[0]]]
    for stage in STAGES:
        row["stages"][stage] = {c: mean_std([r[stage][c] for r in runs]) for c in checks}
    for num, den in (("float student", "float teacher"), ("codes, ADC", "float student"),
                     ("codes, ADC", "float teacher"), ("codes, symmetric", "codes, ADC")):
        row["ratios"][f"{num} / {den}"] = {c: mean_std([r[num][c] / max(r[den][c], 1e-12) for r in runs]) for c in checks}
    return row


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--row", action="append", required=True, help="LABEL=RUN[,RUN...] (the seeds of one configuration)")
    p.add_argument("--name", default="diagnosis")
    a = p.parse_args(argv)
    name, rows = a.name, summarise_rows(a.row, lambda runs: summarise([run_diagnosis(r) for r in runs]),
                                        lambda label, row: print(label, {k: round(v["openclipart P@10"][0], 3) for k, v in row["ratios"].items()}, flush=True))
    from distilhash.data.store import open_prepared

    _, split = open_prepared("openclipart")
    write_rows("open_vocab_dcmq_diagnosis", name, rows, SELECTION, markdown, _plot)


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# Where DCMQ 64-bit codes lose open-vocabulary precision (teacher `{r['teacher']}`)", "",
             "Each configuration's runs ranked four ways (float teacher; float student = the student's text and image "
             "heads before quantization; codes with ADC = continuous query vs image codes, what DCMQ serves; codes "
             "symmetric = the query quantized too). Open-vocab: bare nouns vs held-out drawings / emoji, relevance = "
             "title. val: split.val captions -> their images (MRR) and the label prompts -> val images (label mAP). "
             "Mean +- sample std over seeds.", ""]
    for name, row in r["rows"].items():
        checks = list(row["stages"][STAGES[0]])
        lines += [f"## {name} ({row['n_seeds']} seeds)", "", "| stage | " + " | ".join(checks) + " |",
                  "|---" * (len(checks) + 1) + "|"]
        for stage, vals in row["stages"].items():
            lines.append(f"| {stage} | " + " | ".join(f"{vals[c][0]:.3f} +- {vals[c][1]:.3f}" for c in checks) + " |")
        for ratio, vals in row["ratios"].items():
            lines.append(f"| *{ratio}* | " + " | ".join(f"{vals[c][0]:.2f}x" for c in checks) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _plot(r: dict[str, Any], path: Path) -> None:
    from distilhash.benchmark.figures import figure

    names = list(r["rows"])
    with figure(path, figsize=(9, 0.5 * len(names) * len(DOMAINS) + 2)) as (fig, ax):
        y = np.arange(len(names) * len(DOMAINS))
        labels = [f"{n} / {d}" for n in names for d in DOMAINS]
        for i, stage in enumerate(STAGES[1:]):
            vals = [r["rows"][n]["stages"][stage][f"{d} P@10"][0] / r["rows"][n]["stages"]["float teacher"][f"{d} P@10"][0]
                    for n in names for d in DOMAINS]
            ax.barh(y + 0.27 * i, vals, height=0.27, label=stage)
        ax.axvline(0.9, color="k", ls="--", lw=1)
        ax.axvline(1.0, color="grey", ls=":", lw=1)
        ax.set_yticks(y + 0.27, labels, fontsize=7)
        ax.invert_yaxis()
        ax.legend(fontsize=7)
        ax.set_title("open-vocab P@10 as a share of the float teacher's, stage by stage (0.9x dashed)", fontsize=9)


if __name__ == "__main__":
    main()
