"""Writes under load: a writable service on a 1M-item index, searchers and writers at once, then a check of every write.

    python bench/serve_writes.py --model RUN_DIR --dataset openclipart --teacher lite0-minilm:openclipart \
        [--n 1000000] [--clients 50] [--writers 5] [--duration 60] [--p-delete 0.4] \
        [--index-backend ivf --index-option nprobe=16] [--workers 2] [--read-back] [--work WORK_DIR] [--out-name NAME]

1. Index: the same 1M-item index as ``bench/serve_load.py`` (the model's database codes of
   ``split.retrieval`` plus noisy replicas; built once in ``--work``), copied fresh for every run
   (a run changes it).
2. Server: ``distilhash serve INDEX --api-key KEY --workers W`` in a subprocess on 127.0.0.1. One
   process (``--workers 1``) is the index's writer and searches; with ``--workers 2`` or more the
   parent process is the one writer and W server processes follow the index, answer searches and
   forward writes to it (:mod:`distilhash.serve.writer`).
3. Load, ``--duration`` s: ``--clients`` closed-loop clients, of which ``--writers`` write and the
   rest search (text queries: the distinct ``split.query`` captions, drawn uniformly, k=10, the
   shipped default text encoder). A writer adds an item (``POST /api/items``: a new id, an image
   of ``split.query`` that is not in the index, a caption and metadata) or, with probability
   ``--p-delete`` when it has live items, deletes one of the items it added before
   (``DELETE /api/items/ID``); each writer sends its next request when the previous answer is in.
   Every add is the whole path: image decode, the teacher's image tower, the model's codes,
   the durable log append (fsync), the thumbnail. With ``--read-back`` each write is sent with
   ``Connection: close`` and the writer's next request reads the item back on a new connection
   (with several server processes, whichever the kernel picks): an acknowledged add must answer
   200 with its metadata, an acknowledged delete 404 (read-your-writes, counted).
4. Verification, after the load (same service): every acknowledged add (201) is fetched by id
   (``GET /api/items/ID``, 200 and its metadata) and searched for by its own code
   (``GET /api/search/similar?id=ID&k=K``, the id must be among the answers); every acknowledged
   delete (200) is gone (``GET`` and ``similar`` 404). Then the service is stopped (SIGTERM) and
   the index reopened from disk: every acknowledged add is there, every acknowledged delete is not
   (acknowledged = durable). A write without an answer (timeout) is reported apart, not checked.

Writes ``bench/results/serve_writes/<out-name>.{json,md,png}`` with the provenance block; the
machine is shared (2 cores): the load average before and after is recorded.

Repeated runs, mean ± sample std per setting (server processes, writer nice; ``--by-commit``: also
the commit each run measured, an A/B of two versions run interleaved;
:mod:`distilhash.benchmark.write_runs`)::

    python bench/serve_writes.py --summarise bench/results/serve_writes/serve_writes_pq1m_ivf16_w*_loaded_r*.json \
        --out-name serve_writes_pq1m_ivf16_loaded_summary
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import quote

from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import write_results
from distilhash.benchmark.serve_bench import add_served_index_args, latency_summary, prepare_served, wait_for_quiet
from distilhash.benchmark.write_check import Ledger, WriteClient, Writer, image_pool, verify_live, verify_on_disk
from distilhash.benchmark.write_report import markdown, plot
from distilhash.benchmark.write_runs import summarise_runs, summary_markdown, summary_plot
from distilhash.benchmark.server_process import CliServer
from distilhash.serve import routes

ROOT = Path(__file__).resolve().parents[1]

BENCH = "serve_writes"


def run(args, index: Path, pool: list[str], images: list[tuple[int, bytes]], captions: list[str]) -> dict:
    from distilhash.serve.loadgen import ACCEPTED, GetSession, http_request, multipart, run_load, run_sessions

    from distilhash.index import open_index

    live = args.work / "writable"
    if live.exists():
        shutil.rmtree(live)
    t0 = time.perf_counter()
    shutil.copytree(index, live)
    copy_s = time.perf_counter() - t0
    with open_index(live) as idx:
        gen_before, count_before = idx.manifest["generation"], len(idx)
    key = secrets.token_hex(16)
    os.environ["DISTILHASH_API_KEY"] = key  # the server subprocess inherits it: a writable service
    ledger = Ledger()
    paths = [f"/api/search?q={quote(q)}&k={args.k}" for q in pool]
    try:
        with CliServer(live, args.work / "server.log", threads=args.threads, search_workers=args.search_workers,
                       workers=args.workers, index_backend=args.index_backend, index_options=args.index_option,
                       extra=["--writer-nice", str(args.writer_nice)] if args.writer_nice else None) as srv:
            srv.wait_workers(routes.STATS)
            warm = [f"/api/search?q={quote(q)}&k={args.k}" for q in pool[:50]]
            run_load(srv.url, warm, concurrency=2, duration_s=30, max_requests=40)
            host, port = "127.0.0.1", srv.port
            rng = random.Random(args.seed)
            reqs = [(p, http_request("GET", p, host, port)) for p in paths]
            search = GetSession(lambda: reqs[rng.randrange(len(reqs))], kind="search")
            client = WriteClient(http_request, multipart, ACCEPTED, routes.ITEMS, routes.ITEM_PREFIX)
            writers = [Writer(w, key, host, port, images, captions, args.p_delete, ledger, args.seed + w, client, args.writer_pause,
                              args.read_back, BENCH) for w in range(args.writers)]
            sessions = [search] * (args.clients - args.writers) + writers
            load_before = load_average()
            cpu0 = srv.cpu_s()
            res = run_sessions(srv.url, sessions, duration_s=args.duration, max_requests=args.max_requests)
            server_cpu = srv.cpu_s() - cpu0
            load_after = load_average()
            stats = srv.all_stats(routes.STATS)[0]
            t1 = time.perf_counter()
            live_check = verify_live(srv.url, ledger, args.verify_k, routes.ITEM_PREFIX, routes.SIMILAR)
            live_check["verify_s"] = round(time.perf_counter() - t1, 1)
    finally:
        os.environ.pop("DISTILHASH_API_KEY", None)
    disk = verify_on_disk(live, ledger, live_check["not_found_by_own_code"], args.verify_k)
    all_ms = res["search"].latencies_ms + res["write"].latencies_ms
    wall = res["search"].wall_s
    total = res["search"].requests + res["write"].requests
    return {"clients": args.clients, "writers": args.writers, "searchers": args.clients - args.writers, "p_delete": args.p_delete,
            "writer_pause_s": args.writer_pause,
            "index_copy_s": round(copy_s, 1), "generation_before": gen_before, "count_before": count_before,
            "all": {"requests": total, "errors": res["search"].errors + res["write"].errors, "throughput_rps": round(total / wall, 1),
                    **{k: v for k, v in latency_summary(all_ms).items() if k != "count"}},
            "search": res["search"].summary(), "write": res["write"].summary(),
            "add_ms": latency_summary(ledger.ms["add"]), "delete_ms": latency_summary(ledger.ms["delete"]), "read_back_ms": latency_summary(ledger.ms["read_back"]),
            "read_back": ledger.read_back, "workers": args.workers, "search_workers": args.search_workers, "writer_nice": args.writer_nice,
            "acknowledged": {"adds_live": len(ledger.added), "deletes": len(ledger.deleted), "without_answer": len(ledger.unknown),
                             "refused": len(ledger.refused), "refused_examples": ledger.refused[:5]},
            "verify_service": live_check, "verify_disk": disk,
            "server_stages_ms": stats["latency_ms"], "index": stats["indexes"]["image"],
            "server_cpu_s": round(server_cpu, 2), "server_cpu_share_of_one_core": round(server_cpu / wall, 3),
            "load_before": load_before, "load_after": load_after}


def summarise_main(argv: list[str]) -> None:
    """``--summarise RUN.json ...``: mean ± sample std of stored runs per setting."""
    p = argparse.ArgumentParser(description="Mean and sample std of repeated serve_writes runs, per setting")
    p.add_argument("--summarise", type=Path, nargs="+", required=True, help="serve_writes result JSON files")
    p.add_argument("--out-name", default="serve_writes_summary")
    p.add_argument("--note", default="loaded machine: the runs alternated between the settings")
    p.add_argument("--by-commit", action="store_true", help="also group by the commit each run measured (an A/B of two versions)")
    args = p.parse_args(argv)
    prov = collect_provenance(BENCH, args.out_name, model_selection="none: timing runs are summarised", root=ROOT)
    records = [(x.name, json.loads(x.read_text())) for x in args.summarise]
    result = {"provenance": prov, "note": args.note, "sources": [x.name for x in args.summarise],
              "settings": summarise_runs(records, args.by_commit), "by_commit": args.by_commit}
    paths = write_results(BENCH, args.out_name, result, summary_markdown(result), plot=lambda path: summary_plot(result, path), root=ROOT)
    print(f"wrote {paths['json']}, .md, .png")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if "--summarise" in argv:
        return summarise_main(argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--summarise", type=Path, nargs="+", help="summarise stored runs instead (see above; its own options)")
    add_served_index_args(p, dataset="openclipart", teacher="lite0-minilm:openclipart", out_name=BENCH, max_requests=1_000_000,
                          machine_note="loaded machine: other engineers' jobs were running")
    p.add_argument("--workers", type=int, default=1, help="server processes (2+: they follow the index, the parent writes)")
    p.add_argument("--writers", type=int, default=5, help="of --clients, how many add and delete")
    p.add_argument("--p-delete", type=float, default=0.4, help="a writer's chance to delete (when it has live items) instead of adding")
    p.add_argument("--writer-pause", type=float, default=0.0,
                   help="seconds a writer waits after each answer (0: closed loop, as fast as the service answers)")
    p.add_argument("--verify-k", type=int, default=100)
    p.add_argument("--images", type=int, default=3000, help="distinct images the writers add")
    p.add_argument("--writer-nice", type=int, default=0, help="serve --writer-nice: the writer's CPU priority below the searches' (0-19)")
    p.add_argument("--read-back", action="store_true", help="read every acknowledged write back at once on a new connection")
    args = p.parse_args(argv)
    if not 0 < args.writers < args.clients:
        raise SystemExit(f"--writers must be between 1 and --clients - 1 ({args.clients - 1}); got {args.writers}")

    from distilhash.pipeline.inputs import load_features_and_split
    from distilhash.pipeline.query_encoder import fit_query_encoder
    from distilhash.serve.server import ensure_thumbnails

    t_start = time.time()
    served = prepare_served(args, lambda: load_features_and_split(args.dataset, args.teacher, args.features)[:3],
                            lambda index: (ensure_thumbnails([index]), fit_query_encoder(args.model, args.dataset, args.features, args.teacher)))
    index, build, split, pool = served.index, served.build, served.split, served.pool
    print(f"{args.images} images to add ...", flush=True)
    images = image_pool(args.dataset, served.query_rows, args.images, args.seed)
    prov = collect_provenance(BENCH, args.out_name, seeds=[args.seed], dataset=args.dataset, split=split, threads=args.threads,
                              model_selection="none: a trained model is served", root=ROOT)
    wait_for_quiet(args.wait_load, args.wait_max)
    print("run ...", flush=True)
    r = run(args, index, pool, images, served.texts)
    print(json.dumps({k: r[k] for k in ("all", "acknowledged", "verify_service", "verify_disk")}, indent=1)[:3000], flush=True)
    result = {"provenance": prov, "model": str(args.model), "k": args.k, "verify_k": args.verify_k, "pool_size": len(pool),
              "images": len(images), "threads": args.threads, "index_backend": args.index_backend, "index_options": args.index_option,
              "duration_s": args.duration, "index_build": build, "runs": [r], "wall_s": round(time.time() - t_start, 1),
              "machine_note": args.machine_note, "notes": args.notes}
    paths = write_results(BENCH, args.out_name, result, markdown(result), plot=lambda path: plot(result, path), root=ROOT)
    print(f"wrote {paths['json']}, .md, .png")


if __name__ == "__main__":
    main()
