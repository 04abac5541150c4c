"""Typed nouns through the static query encoder vs the teacher's own text tower (open-vocabulary list).

The static encoder keeps 0.99x of MiniLM's text->image mAP on *captions* (bench/static_query_encoder.py).
Typed queries are shorter ("horse"): this measures what it keeps on them. For a served model
directory (its ``static-text/`` encoder) and its teacher, on the open-vocabulary benchmark's committed
noun list against openclipart ``split.query`` (relevance: the noun in the drawing's title), it scores
the float teacher and the model's codes with the noun read by (a) the teacher's text tower and (b) the
static encoder. Nothing is fitted or selected here.

    DISTILHASH_HOME=data python bench/open_vocab_static.py --model data/runs/demo-dcmq64

Writes ``bench/results/open_vocab_static/<name>.{json,md}``.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results
from distilhash.benchmark.static_text_report import typed_nouns_markdown


def main(argv: list[str] | None = None) -> None:
    from distilhash.benchmark.open_vocab.scoring import OpenVocabOptions, _evaluate, prepare_domains, random_ranking
    from distilhash.codes import Encoded
    from distilhash.data.store import open_prepared
    from distilhash.methods.base import load_method
    from distilhash.query_encoders.static_text import load_static_text, static_text_dir
    from distilhash.teachers.cache import default_features_dir, load_features

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="a model directory with a static-text/ encoder")
    p.add_argument("--dataset", default="openclipart")
    p.add_argument("--name", default="open_vocab_static")
    a = p.parse_args(argv)

    method = load_method(a.model)
    teacher = method.teacher_spec_
    ds, split = open_prepared(a.dataset)
    prov = collect_provenance("open_vocab_static", a.name, split=split, dataset=a.dataset, seeds=[0],
                              model_selection="none: a trained model and its fitted static encoder are scored")
    features = load_features(default_features_dir(a.dataset, teacher))
    options = OpenVocabOptions(domains=("openclipart",))
    dom = prepare_domains(options, teacher, features, split)[0]
    keep = np.flatnonzero(dom.relevant.any(axis=1))
    rel = dom.relevant[keep]
    nouns = [dom.nouns[i] for i in keep]
    static = load_static_text(static_text_dir(a.model))
    readers = {"teacher text tower": np.asarray(dom.query_features[keep], np.float32),
               "static encoder": np.asarray(static.encode(nouns), np.float32)}
    cos = np.sum(readers["teacher text tower"] * readers["static encoder"], axis=1)
    img = np.asarray(dom.image_features, np.float32)
    width = img.shape[1]
    rows: dict[str, Any] = {}
    for reader, q in readers.items():
        rows[f"float teacher, {reader}"] = _evaluate(Encoded("float", q, 32 * width), Encoded("float", img, 32 * width), rel, options)
        rows[f"{method.name} codes, {reader}"] = _evaluate(method.encode("text", q, role="query"),
                                                           method.encode("image", img, role="database"), rel, options)
    rows["random ranking"] = random_ranking(dom, options)
    out = {"provenance": prov, "model": a.model, "teacher": teacher, "n_queries": int(len(keep)),
           "static_encoder": static.fingerprint, "cos_static_vs_tower": {"mean": float(cos.mean()), "min": float(cos.min()),
                                                                        "median": float(np.median(cos))},
           "rows": rows}
    write_results("open_vocab_static", a.name, out, typed_nouns_markdown(out))


if __name__ == "__main__":
    main()
