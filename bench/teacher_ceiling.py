"""How high can a frozen-MiniLM teacher go on EmojiScenes? Upper bounds for issue #3's 3x goal.

Usage::

    DISTILHASH_HOME=data .venv/bin/python bench/teacher_ceiling.py [--design-items 4000] [--threads 2]

The offline teacher's text tower is all-MiniLM-L6-v2, frozen: a caption's embedding is fixed,
whatever image tower is trained against it. This benchmark measures, with cosine ranking and
relevance = share a label (mAP@all):

Part A -- the benchmark itself (``split.query`` vs ``split.retrieval``, default config):

* the fitted teacher's image->text and text->image (from the feature cache);
* ``minilm-sentence``: text->text with the frozen MiniLM caption embedding -- what a perfect
  image tower could at best imitate (an image embedding equal to its caption's embedding gives
  exactly this figure for image->text);
* ``minilm-phrases``: the caption split at commas / "and" / ":", each phrase embedded, summed;
* ``identity-oracle``: the exact set of emojis in the scene (multi-hot over 1601 emojis) --
  a perfect emoji recogniser with no semantics;
* ``names-oracle``: the sum of the MiniLM embeddings of the canonical names of *all* objects in
  the scene (knows the dropped objects too) -- the most MiniLM's word-level semantics offer;
* ``label-readout``: a multi-label logistic readout of the frozen MiniLM caption embedding,
  trained *with the labels* on ``split.fit`` (one fixed setting: 400 Adam steps, lr 0.05, L2 1e-4),
  compared by cosine of the predicted label probabilities -- information a label-free LiT teacher
  cannot use, shown to locate the limit in the text tower's geometry rather than its content;
* the random ranking (chance).

Part B -- a design sample (its own seed, never the benchmark items): the same text-side figures
for other object-count ranges, to show how the ratio to chance depends on the scene design.

Writes ``bench/results/teacher_ceiling/<out-name>.{json,md,png}`` (default ``teacher_ceiling``).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results
from distilhash.benchmark.text_ceiling import markdown, part_a, part_b, plot

ROOT = Path(__file__).resolve().parents[1]
BENCH = "teacher_ceiling"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="emoji-scenes")
    p.add_argument("--design-items", type=int, default=4000)
    p.add_argument("--design-query", type=int, default=500)
    p.add_argument("--design-seed", type=int, default=77)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out-name", default=BENCH, help="result name under bench/results/teacher_ceiling/")
    args = p.parse_args(argv)
    prov = collect_provenance(BENCH, args.out_name, seeds=[args.design_seed],
                              model_selection="none: the label readout uses one fixed setting (400 Adam steps, lr 0.05, "
                              "L2 1e-4) fitted on split.fit; nothing is chosen on the queries",
                              dataset=args.dataset, threads=args.threads, root=ROOT)
    import torch

    from distilhash.data.emoji_scenes import EmojiScenesConfig, EmojiScenesGenerator
    from distilhash.teachers.minilm_text import MiniLMTextEncoder

    torch.set_num_threads(args.threads)
    t0 = time.time()
    encoder = MiniLMTextEncoder()
    gen = EmojiScenesGenerator(EmojiScenesConfig())
    name_emb = np.asarray(encoder.encode([e.name for e in gen.catalog.emojis], batch_size=256), dtype=np.float32)
    name_emb /= np.linalg.norm(name_emb, axis=1, keepdims=True)
    res = {
        "provenance": prov,
        "benchmark": part_a(encoder, name_emb, gen, args.dataset),
        "design_seed": args.design_seed,
        "design_items": args.design_items,
        "design_query": args.design_query,
    }
    prov["split_hash"] = res["benchmark"]["split_hash"]
    print(res["benchmark"], flush=True)
    res["design"] = part_b(encoder, name_emb, args.design_items, args.design_query, args.design_seed)
    res["wall_s"] = time.time() - t0
    res["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    paths = write_results(BENCH, args.out_name, res, markdown(res), plot=lambda path: plot(res, path), root=ROOT)
    print(paths["md"].read_text())


if __name__ == "__main__":
    main()
