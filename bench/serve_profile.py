"""Where a text query's time goes: CPU time per stage of the service's text path, in process.

    python bench/serve_profile.py --index WORK/index-1000000 [--index WORK/itq/index-1000000] [--n 300]

(``WORK``: the ``--work`` folder of ``bench/serve_load.py``, which builds these 1M-item indexes.)

For each index (its model and teacher from the manifest; the static text encoder from
``MODEL/static-text``, ``distilhash query-encoder fit``), on ``split.query`` captions, one
thread, torch at one thread:

* ``static_text``: the static text encoder, one query;
* ``teacher_text``: the teacher's MiniLM text tower, one query / per query in batches of 32;
* ``project``: the model's text head, one query / per query in batches of 20;
* ``search``: ``index.search`` top-10 incl. metadata, one query / per query in batches of 20;
* ``answer``: result dicts + orjson encoding of one answer;
* ``service``: :meth:`SearchService.search_text` end to end without HTTP (static encoder);
  and 20 concurrent submissions (one batch) per query.

CPU time (``time.process_time``) is reported, not wall time: the machine is shared. The HTTP
stack's and the load generator's cost per request come from ``bench/serve_load.py``
(``http-floor`` scenario: ``GET /api/health``; server and load-generator CPU per request).
Writes ``bench/results/serve_profile/<out-name>.{json,md}`` (default ``serve_profile``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "serve_profile"


def _cpu_ms(fn, n: int, per: int = 1) -> float:
    fn()  # warm
    c = time.process_time()
    for _ in range(n):
        fn()
    return round((time.process_time() - c) * 1e3 / (n * per), 4)


def profile_index(index_dir: Path, texts: list[str], n: int) -> dict:
    import orjson

    from distilhash.serve.answers import result_items
    from distilhash.serve.engine import SearchService, ServiceConfig

    svc = SearchService(index_dir, config=ServiceConfig(query_encoder="static", text_cache_size=0, torch_threads=1))
    try:
        svc.warm()
        t = next(iter(svc.targets.values()))
        method, teacher, static, idx = t.encoder.method, t.encoder.teacher, t.encoder.static, t.index
        it = iter(range(10**9))

        def nxt(k: int = 1) -> list[str]:
            i = next(it)
            return [texts[(i * k + j) % len(texts)] for j in range(k)]

        f1, f20 = static.encode(nxt()), static.encode(nxt(20))
        q1, q20 = method.encode("text", f1, "query"), method.encode("text", f20, "query")
        res = idx.search(q1, 10)[0]
        out = {
            "index": str(index_dir), "count": len(idx), "kind": idx.kind, "bits": idx.n_bits, "backend": idx.backend,
            "method": getattr(method, "name", "?"),
            "static_text_1": _cpu_ms(lambda: static.encode(nxt()), n),
            "teacher_text_1": _cpu_ms(lambda: teacher.encode_texts(nxt()), max(20, n // 10)),
            "teacher_text_b32": _cpu_ms(lambda: teacher.encode_texts(nxt(32)), max(3, n // 100), 32),
            "project_1": _cpu_ms(lambda: method.encode("text", f1, "query"), n),
            "project_b20": _cpu_ms(lambda: method.encode("text", f20, "query"), max(10, n // 10), 20),
            "search_1": _cpu_ms(lambda: idx.search(q1, 10), n),
            "search_b20": _cpu_ms(lambda: idx.search(q20, 10), max(10, n // 10), 20),
            "answer_1": _cpu_ms(lambda: orjson.dumps({"results": result_items(t, res)}, option=orjson.OPT_SERIALIZE_NUMPY), n),
            "service_1": _cpu_ms(lambda: svc.search_text(nxt()[0]), n),
        }

        def concurrent20() -> None:
            for f in [svc.submit_text(q) for q in nxt(20)]:
                f.result(timeout=60)

        out["service_b20"] = _cpu_ms(concurrent20, max(10, n // 10), 20)
        return out
    finally:
        svc.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--index", type=Path, action="append", required=True)
    p.add_argument("--dataset", default="emoji-scenes")
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--out-name", default=BENCH, help="result name under bench/results/serve_profile/")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from distilhash.data.store import open_prepared

    ds, split = open_prepared(args.dataset)
    texts = [ds.texts[i] for i in split.query]
    prov = collect_provenance(BENCH, args.out_name, seeds=[], model_selection="none: trained models are only timed",
                              dataset=ds.name, split=split, root=ROOT)
    rows = [profile_index(ix, texts, args.n) for ix in args.index]
    result = {"provenance": prov, "indexes": rows, "note": "CPU time per stage (process_time), one thread"}
    keys = [("static_text_1", "static encoder, 1 query"), ("teacher_text_1", "teacher MiniLM, 1 query"),
            ("teacher_text_b32", "teacher MiniLM, per query in batches of 32"), ("project_1", "model text head, 1 query"),
            ("project_b20", "model text head, per query in batches of 20"), ("search_1", "index top-10 + metadata, 1 query"),
            ("search_b20", "index top-10 + metadata, per query in batches of 20"), ("answer_1", "result dicts + orjson, 1 answer"),
            ("service_1", "service text path without HTTP (static), 1 query"),
            ("service_b20", "service text path without HTTP (static), per query, 20 concurrent")]
    lines = ["# CPU time per stage of a text query", "",
             "**Shared machine** (load averages below); CPU ms (process_time), one thread.", "",
             "| stage | " + " | ".join(f"{r['method']} {r['bits']}-bit {r['kind']} ({r['backend']}), {r['count']:,} items" for r in rows) + " |",
             "|---|" + "---|" * len(rows)]
    for k, label in keys:
        lines.append(f"| {label} | " + " | ".join(str(r[k]) for r in rows) + " |")
    lines += ["", "HTTP (uvicorn + FastAPI + the guard middleware) and the load generator: see serve_load*.md "
              "(`http-floor` scenario and the CPU-per-request columns).", ""]
    paths = write_results(BENCH, args.out_name, result, "\n".join(lines), root=ROOT)
    print(paths["md"].read_text())


if __name__ == "__main__":
    main()
