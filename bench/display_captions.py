"""Junk captions among the items the page shows for the demo's example queries, before and after cleaning.

    python bench/display_captions.py data/indexes/demo-dcmq64-image data/indexes/demo-dcmq64-text [--k 10]

Queries: the demo's example queries (:data:`distilhash.demo.examples.EXAMPLE_QUERIES`, top ``k``
each: 10 x 10 = the first 100 items shown) and the start page's example queries (computed from the
index, :class:`distilhash.serve.start.StartPage`). Each query is answered by the service as the page
asks it (text -> images, the teacher's text tower). Every shown caption is checked with the documented
rule (:func:`distilhash.data.captions.junk_reasons`; ``shared-title`` counts identical captions in
the dataset and takes the item's tags and file name as its own words):

* **before**: the caption the page showed until now (the training text, ``caption`` in the metadata);
* **after**: the caption it shows now (``display_caption``).

Writes ``bench/results/display_captions/<out-name>.{json,md}`` listing every shown item.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from distilhash.benchmark.caption_junk import markdown, summarise
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "display_captions"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("indexes", nargs="+", type=Path)
    p.add_argument("--k", type=int, default=10, help="items shown per query")
    p.add_argument("--out-name", default=BENCH)
    args = p.parse_args(argv)

    import torch

    from distilhash.data.captions import CaptionContext, junk_reasons
    from distilhash.data.store import open_prepared
    from distilhash.demo.examples import EXAMPLE_QUERIES
    from distilhash.serve.engine import SearchService, ServiceConfig
    from distilhash.serve.start import StartPage

    torch.set_num_threads(1)
    svc = SearchService([str(d) for d in args.indexes], config=ServiceConfig(query_encoder="teacher"))
    try:
        target = svc.targets.get("image") or svc.targets[svc.primary]
        dataset = next(md for _, md in target.index.iter_metadata(chunk=1))["dataset"]
        ds, split = open_prepared(dataset)
        prov = collect_provenance(BENCH, args.out_name, split=split, dataset=ds.name,
                                  model_selection="none: the cleaning rule is fixed (data/captions.py); nothing is tuned on these queries")
        shown = ds.display_texts if ds.display_texts is not None else ds.texts
        counts = Counter(" ".join(t.lower().split()) for t in shown)
        start = StartPage(svc).info()
        queries = [("demo", q.text) for q in EXAMPLE_QUERIES] + [("start page", e["query"]) for e in start["examples"]]
        rows = []
        for origin, q in queries:
            ans = svc.search_text(q, args.k)
            for rank, r in enumerate(ans["results"], 1):
                md = r["metadata"]
                row = int(md["row"])
                ctx = CaptionContext(counts, tags=(ds.tags[row] if ds.tags else []), file_name=r["id"].rsplit("/", 1)[-1])
                rows.append({"queries": origin, "query": q, "rank": rank, "id": r["id"], "shown": r["caption"],
                             "junk_after": junk_reasons(r["caption"] or "", ctx),
                             "before": md.get("caption"), "junk_before": junk_reasons(md.get("caption") or "", ctx)})
    finally:
        svc.close()
    summary = summarise(rows)
    result = {"k": args.k, "summary": summary, "start_page_examples": start["examples"], "items": rows,
              "display_captions_rule": ds.meta.get("display_captions", {}).get("rule"), "provenance": prov}
    write_results(BENCH, args.out_name, result, markdown(result), root=ROOT)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
