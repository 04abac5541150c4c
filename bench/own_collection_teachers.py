"""Which offline teacher should an own collection get by default? Caption -> own picture, on unseen real images.

Usage (with ``make demo``'s home, so that the fitted teachers are there)::

    DISTILHASH_HOME=data python bench/own_collection_teachers.py

For each candidate teacher, each picture's caption is a query and the picture itself the one
relevant item among all pictures of the collection; figures: share of captions whose picture is in
the top 5 (what docs/own-collection.md promises), in the top 1, and MRR. Collections:

* ``emoji (fit subgroups)``: the Noto glyphs of the 42 subgroups *not* held out for the
  open-vocabulary benchmark, captioned by their CLDR name: no candidate below was fitted on them;
  **the default order (``distilhash.teachers.default_choice.PREFERENCE``) is chosen on this column**;
* ``emoji (held-out subgroups)``: the benchmark's glyphs (reported, not used for the choice; the
  journey test uses a sample of them);
* ``openclipart split.query``: the 1,000 held-out drawings by their SVG title (untitled ones left out).

Writes ``bench/results/own_collection_teachers/teachers.{json,md}``.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results

CANDIDATES = ("minilm-lit", "lite0-minilm:openclipart", "lite0-prior", "lite0-prior:openclipart",
              "lite0-prior:openclipart-224")


def own_picture_scores(img: np.ndarray, txt: np.ndarray) -> dict[str, float]:
    """Row i of ``txt`` belongs with row i of ``img`` (unit rows): top-1, top-5 share and MRR of the picture."""
    s = txt @ img.T
    rank = (s > np.diag(s)[:, None]).sum(1) + 1
    return {"top1": float(np.mean(rank <= 1)), "top5": float(np.mean(rank <= 5)), "mrr": float(np.mean(1.0 / rank)),
            "n": int(len(rank))}


def collections(size: int = 128) -> dict[str, tuple[np.ndarray, np.ndarray, list[str]]]:
    """Name -> (uint8 pixels ``[n, 128, 128, 3]``, Lite0 pooled features ``[n, 1280]`` at ``size`` px, captions).

    Pooled features are computed once per size (openclipart rows from the fit's tower cache, glyphs cached
    under ``$DISTILHASH_HOME/open_vocab``): every Lite0-based teacher embeds them with its own heads.
    """
    from distilhash.benchmark.open_vocab.pooled import glyph_pooled, pooled_domains

    from distilhash.benchmark.open_vocab.domains import openclipart_query_domain
    from distilhash.data.emoji_glyphs import emoji_glyphs
    from distilhash.data.store import open_prepared

    out = {}
    for name, held in (("emoji (fit subgroups)", False), ("emoji (held-out subgroups)", True)):
        d = emoji_glyphs(held, 128)
        out[name] = (d.images, glyph_pooled(d.images, "held-out" if held else "fit", size), list(d.titles))
    d = openclipart_query_domain()
    keep = [i for i, t in enumerate(d.titles) if t and t.strip()]
    pooled = pooled_domains(*open_prepared("openclipart"), emoji=False, size=size)["openclipart"]
    out["openclipart split.query"] = (d.images[keep], pooled[keep], [d.titles[i] for i in keep])
    return out


def main(argv: list[str] | None = None) -> None:
    from distilhash.benchmark.open_vocab.pooled import LITE0_TEACHERS, embed_pooled

    from distilhash.teachers.registry import create_teacher

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--teacher", action="append", help=f"candidates (default: {', '.join(CANDIDATES)})")
    p.add_argument("--name", default="teachers")
    a = p.parse_args(argv)
    prov = collect_provenance("own_collection_teachers", a.name, dataset="emoji glyphs + openclipart split.query",
                              model_selection="the default order is chosen on the 'emoji (fit subgroups)' column only")
    by_size: dict[int, Any] = {}  # Lite0 pooled features at each teacher's own image size (128 or 224 px)
    rows: dict[str, Any] = {}
    for spec in a.teacher or CANDIDATES:
        t = create_teacher(spec)
        lite0 = type(t).__name__ in LITE0_TEACHERS
        size = t.image_size if lite0 and t.image_size else 128
        data = by_size[size] = by_size.get(size) or collections(size)
        rows[spec] = {name: own_picture_scores(embed_pooled(t, u) if lite0 else t.encode_images(px, progress=True),
                                               t.encode_texts(caps))
                      for name, (px, u, caps) in data.items()}
        rows[spec]["fingerprint"] = t.fingerprint
        print(spec, {k: round(v["top5"], 3) for k, v in rows[spec].items() if isinstance(v, dict)}, flush=True)
    write_results("own_collection_teachers", a.name, {"provenance": prov, "rows": rows}, markdown(rows, list(data)))


def markdown(rows: dict[str, Any], names: list[str]) -> str:
    lines = ["# Caption -> its own picture among unseen real images, per offline teacher", "",
             "Each caption's own picture is the one relevant item among all pictures of the collection.", "",
             "| teacher | " + " | ".join(f"{n}: top-5 / top-1 / MRR (n)" for n in names) + " |", "|---" * (1 + len(names)) + "|"]
    for spec, r in rows.items():
        lines.append(f"| {spec} | " + " | ".join(f"{r[n]['top5']:.3f} / {r[n]['top1']:.3f} / {r[n]['mrr']:.3f} ({r[n]['n']})"
                                               for n in names) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
