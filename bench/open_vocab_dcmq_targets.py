"""What DCMQ's settings cost on the open-vocabulary benchmark (target texts, heads, extra rows, rotation), several seeds.

Usage (runs trained with ``distilhash train dcmq ... --set target_text=label|caption|mix`` on one teacher)::

    DISTILHASH_HOME=... python bench/open_vocab_dcmq_targets.py --name NAME \\
        --row "label prompts=RUN_s0,RUN_s1,RUN_s2" --row "captions=RUN_s0,RUN_s1,RUN_s2" ...

Per run it reads ``RUN/ov.json`` (written by ``distilhash demo open-vocab RUN --json RUN/ov.json``;
computed here when missing) and ``RUN/train.json`` (label mAP@all on split.val and on split.query vs
split.retrieval, title + tags). Each row: the DCMQ codes' P@10 / mAP on the held-out drawings and
emoji glyphs (mean +- sample std over seeds), the same over the float teacher's (the 0.9x goal of
issue 24), the label mAP the targets buy, and each kept model's label-free validation score (the share of the float
teacher's top 10 its codes keep, split.val vs split.fit; ``training.validation.val_teacher_fidelity``, cached as
``RUN/val_fidelity.json``) with the epochs kept. DCMQ's epoch is its own (its ``val_criterion`` on split.val);
nothing is chosen on the benchmark's queries. The code length in the title is the runs' own (``n_bits`` of
their ``train.json``; several lengths are listed). Writes ``bench/results/open_vocab_dcmq_targets/NAME.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.run_rows import mean_std, summarise_rows, write_rows

DOMAINS = ("openclipart", "emoji")
#: how every figure of the rows was selected (the provenance block)
SELECTION = ("DCMQ epoch: its own val_criterion on split.val (early stopping; labels = val label mAP, the default; "
             "teacher-top10 = overlap with the float teacher's val top 10, no labels); caption_weight fixed at 0.5 before any "
             "run, not tuned; quant_parallel_weight: the rule in bench/open_vocab_dcmq_emoji.py (validation databases "
             "only); teacher: val MRR heads + prior weight on split.val")


def run_figures(run: Path) -> dict[str, Any]:
    """One run's open-vocab figures (codes and float teacher) and label mAP."""
    ov_path = run / "ov.json"
    if not ov_path.is_file():
        from distilhash.demo.open_vocab_summary import save_summary, summarize

        save_summary(summarize(run), ov_path)
    ov = json.loads(ov_path.read_text())
    train = json.loads((run / "train.json").read_text())
    teacher_key = "float teacher"
    model_key = next(k for k in ov if k != teacher_key)
    out: dict[str, Any] = {"run": str(run), "seed": train.get("seed"), "teacher": train.get("teacher"),
                           "method": train.get("method"), "n_bits": train.get("n_bits", train["config"].get("n_bits")),
                           **{k: train["config"].get(k) for k in ("target_text", "caption_weight", "quant_parallel_weight",
                                                                  "extra_pairs", "pq_rotation", "rotation")},
                           "label_map": train["map_all"], "val_criterion": train["config"].get("val_criterion"),
                           "kept_epoch": (train.get("budget") or {}).get("kept_epoch"), "val_teacher_top10": val_fidelity(run)}
    for d in DOMAINS:
        m, t = ov[model_key]["domains"][d]["method"], ov[teacher_key]["domains"][d]["method"]
        out[d] = {"p_at": m["p_at"], "map_all": m["map_all"], "teacher_p_at": t["p_at"], "teacher_map_all": t["map_all"]}
    return out


def val_fidelity(run: Path) -> dict[str, float]:
    """The kept model's val teacher-top10 score ``{"i2t", "t2i", "mean"}`` (split.val vs split.fit), cached in the run."""
    path = run / "val_fidelity.json"
    if not path.is_file():
        from distilhash.methods.base import load_method
        from distilhash.pipeline.inputs import dataset_for_model, load_features_and_split, teacher_for_model
        from distilhash.training.validation import val_teacher_fidelity

        _, split, feats, _ = load_features_and_split(dataset_for_model(run), teacher_for_model(run))
        path.write_text(json.dumps(val_teacher_fidelity(load_method(run), feats, split)) + "\n")
    return json.loads(path.read_text())


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {"runs": runs, "n_seeds": len(runs)}
    for d in DOMAINS:
        row[d] = {}
        for f in ("p_at", "map_all"):
            row[d][f], row[d][f + "_std"] = mean_std([r[d][f] for r in runs])
            row[d][f + "_vs_teacher"], row[d][f + "_vs_teacher_std"] = mean_std([r[d][f] / r[d]["teacher_" + f] for r in runs])
            row[d]["teacher_" + f] = runs[0][d]["teacher_" + f]
    row["val_teacher_top10"] = mean_std([r["val_teacher_top10"]["mean"] for r in runs])
    for part in ("val", "query"):
        row[f"label_map_{part}"] = {k: mean_std([r["label_map"][part][k] for r in runs]) for k in ("i2t", "t2i")}
    return row


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--row", action="append", required=True, help="LABEL=RUN[,RUN...] (the seeds of one configuration)")
    p.add_argument("--name", default="targets")
    a = p.parse_args(argv)
    name, rows = a.name, summarise_rows(a.row, lambda runs: summarise([run_figures(r) for r in runs]),
                                        lambda label, row: print(label, {d: round(row[d]["p_at"], 3) for d in DOMAINS}, flush=True))
    write_rows("open_vocab_dcmq_targets", name, rows, SELECTION, markdown, _plot)


def code_lengths(r: dict[str, Any]) -> str:
    """The runs' code lengths as a title word: "64-bit", "32- and 64-bit" ("?-bit" for runs that record none)."""
    bits = sorted({run.get("n_bits") for row in r["rows"].values() for run in row["runs"]}, key=lambda b: (b is None, b or 0))
    words = [str(b) if b is not None else "?" for b in bits]
    return ("-, ".join(words[:-1]) + "- and " + words[-1] if len(words) > 1 else words[0]) + "-bit"


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# DCMQ {code_lengths(r)} codes by setting, open-vocabulary benchmark (teacher `{r['teacher']}`)", "",
             "P@10 / mAP@all of the codes on the held-out drawings and emoji glyphs (relevance = the title names the "
             "noun), mean +- sample std over seeds, and as a share of the float teacher's; label mAP@all on split.query "
             "vs split.retrieval (title + tags) is what the targets buy.", "",
             "| configuration | seeds | drawings P@10 | x teacher | drawings mAP | x teacher | emoji P@10 | x teacher | emoji mAP "
             "| x teacher | label mAP i2t / t2i | val teacher top-10 | kept epochs |", "|---" * 13 + "|"]
    for name, row in r["rows"].items():
        cells = []
        for d in DOMAINS:
            x = row[d]
            for f in ("p_at", "map_all"):
                cells += [f"{x[f]:.3f} +- {x[f + '_std']:.3f}", f"{x[f + '_vs_teacher']:.2f}x +- {x[f + '_vs_teacher_std']:.2f}"]
        q = row["label_map_query"]
        cells.append(f"{q['i2t'][0]:.3f} / {q['t2i'][0]:.3f}")
        fid = row.get("val_teacher_top10")
        cells.append(f"{fid[0]:.3f} +- {fid[1]:.3f}" if fid else "-")
        cells.append(", ".join("-" if r.get("kept_epoch") is None else str(r["kept_epoch"]) for r in row["runs"]))
        lines.append(f"| {name} | {row['n_seeds']} | " + " | ".join(cells) + " |")
    t = next(iter(r["rows"].values()))
    lines += ["", f"Float teacher: drawings P@10 {t['openclipart']['teacher_p_at']:.3f}, mAP {t['openclipart']['teacher_map_all']:.3f}; "
              f"emoji P@10 {t['emoji']['teacher_p_at']:.3f}, mAP {t['emoji']['teacher_map_all']:.3f}. "
              "Val teacher top-10: the share of the float teacher's top 10 that the kept codes' top 10 keeps (split.val "
              "queries vs split.fit, both directions; no labels); kept epochs per seed (after the warm-up; - = none)."]
    return "\n".join(lines) + "\n"


def _plot(r: dict[str, Any], path: Path) -> None:
    from distilhash.benchmark.figures import figure

    names = list(r["rows"])
    with figure(path, figsize=(8, 0.6 * len(names) + 1.6)) as (fig, ax):
        y = np.arange(len(names))
        for i, d in enumerate(DOMAINS):
            ax.barh(y + 0.4 * i, [r["rows"][n][d]["p_at_vs_teacher"] for n in names], height=0.4,
                    xerr=[r["rows"][n][d]["p_at_vs_teacher_std"] for n in names], label=f"{d}: P@10 / float teacher's")
        ax.axvline(0.9, color="k", ls="--", lw=1)
        ax.set_yticks(y + 0.2, names, fontsize=8)
        ax.invert_yaxis()
        ax.legend(fontsize=7)
        ax.set_title(f"{code_lengths(r)} codes: share of the float teacher's open-vocab P@10 (goal 0.9x, dashed)", fontsize=9)


if __name__ == "__main__":
    main()
