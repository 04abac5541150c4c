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

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import write_results
from distilhash.benchmark.serve_bench import add_served_index_args, latency_summary, prepare_served, wait_for_quiet
from distilhash.benchmark.write_check import Ledger, WriteClient, Writer, image_pool, verify_live, verify_on_disk
from distilhash.benchmark.write_runs import FIGURES, summarise_runs
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


def markdown(result: dict) -> str:
    r = result["runs"][0]
    ix = r["index"]
    procs = (f"one writable server process (`--api-key`)" if r.get("workers", 1) == 1 else
             f"{r['workers']} server processes (`--api-key --workers {r['workers']}`: they follow the index and forward writes "
             f"to the parent process, the index's one writer{', its writes at nice +' + str(r['writer_nice']) if r.get('writer_nice') else ''}), "
             f"{r.get('search_workers', 1)} search worker(s) each")
    lines = ["# Writes under load: searches, adds and deletes on a writable service", "",
             f"Index: {r['count_before']:,} items, {ix['bits']}-bit {ix['kind']} codes (real retrieval codes of `{result['model']}` + noisy "
             f"replicas, as `bench/serve_load.py`), searcher `{ix['backend']}` {result['index_options']}; {procs}, "
             f"{result['threads']} torch thread(s).  ",
             f"Clients: {r['clients']} closed-loop on loopback, {r['writers']} writers ({100 * r['writers'] / r['clients']:.0f} %) and "
             f"{r['searchers']} searchers, {result['duration_s']} s. A writer adds an item (a `split.query` image the index does not hold, "
             f"through the teacher's image tower) or, with probability {r['p_delete']} when it has live items, deletes one it added; "
             f"{'closed loop: its next write as soon as the answer is in' if not r.get('writer_pause_s') else 'then waits ' + str(r['writer_pause_s']) + ' s'}. "
             f"Searchers: `split.query` captions, k={result['k']}, the default text encoder.  ",
             f"Load average at start {result['provenance']['load_before']}; **{result['machine_note']}** (2 cores shared).", "",
             "## Latency (client side, ms), errors", "",
             "| requests | clients | count | errors | req/s | p50 | p90 | p99 | max |", "|---|---|---|---|---|---|---|---|---|"]
    for x in result["runs"]:
        wrow = "writers (add, delete, read-back GET)" if x.get("read_back_ms", {}).get("count") else "write (add + delete)"
        for name, s in (("all", x["all"]), ("search", x["search"]), (wrow, x["write"])):
            n = x["clients"] if name == "all" else x["searchers"] if name == "search" else x["writers"]
            lines.append(f"| {name} | {n} | {s['requests']:,} | {s['errors']} | {s['throughput_rps']} | {s['p50_ms']} | {s['p90_ms']} | {s['p99_ms']} | {s['max_ms']} |")
        for name in ("add_ms", "delete_ms", "read_back_ms"):
            s = x[name]
            if s["count"]:
                lines.append(f"| {name[:-3].replace('_', '-')} | | {s['count']:,} | | | {s['p50_ms']} | {s['p90_ms']} | {s['p99_ms']} | {s['max_ms']} |")
    lines += ["", "## Every acknowledged write checked", "", "| check | result |", "|---|---|"]
    for x in result["runs"]:
        a, v, d = x["acknowledged"], x["verify_service"], x["verify_disk"]
        lines += [f"| adds acknowledged (201) and not deleted later | {a['adds_live']:,} |",
                  f"| deletes acknowledged (200) | {a['deletes']:,} |",
                  f"| writes without an answer / refused | {a['without_answer']} / {a['refused']} |",
                  *([f"| **read-your-writes**: acknowledged writes read back at once on a new connection, stale answers | "
                     f"{x['read_back']['checked']:,}, **{x['read_back']['stale']}** |"] if x.get("read_back", {}).get("checked") else []),
                  f"| service: adds fetched by id (metadata as sent) | {v['adds_fetched']:,} of {v['adds_checked']:,} ({v['adds_metadata_ok']:,}) |",
                  f"| service: adds found by a search for their own code (k={result['verify_k']}) | {v['adds_found_by_own_code']:,} of {v['adds_checked']:,} "
                  f"(rank median {v['own_code_rank_median']}, max {v['own_code_rank_max']}) |",
                  f"| of the others: outranked (the exact search over the final index also has {result['verify_k']} items scoring at least as well as the item's own code; inner-product metric) | {d['of_those_outranked_in_exact_search']} of {d['own_code_not_returned']} |",
                  f"| **adds missing** (not fetched, or not returned where the exact search ranks them) | {v['adds_checked'] - v['adds_fetched'] + len(d['of_those_missing'])} |",
                  f"| service: deletes gone (GET and similar 404) | {v['deletes_gone']:,} of {v['deletes_checked']:,} |",
                  f"| disk, after the service stopped: adds present | {d['adds_present']:,} of {d['adds_expected']:,} |",
                  f"| disk: deletes present | {d['deletes_present']} |",
                  f"| index generation before -> after (a change = a compaction ran) | {x['generation_before']} -> {d['generation_after']} |"]
    lines += ["", "## Server-side stages (ms)", "", "| stage | count | p50 | p99 | max |", "|---|---|---|---|---|"]
    for stage, v in result["runs"][0]["server_stages_ms"].items():
        if v.get("count"):
            lines.append(f"| {stage} | {v['count']:,} | {v.get('p50_ms')} | {v.get('p99_ms')} | {v.get('max_ms')} |")
    lines += ["", result.get("notes", ""), ""]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    with figure(path, figsize=(7, 4)) as (fig, ax):
        x = result["runs"][0]
        names = ["all", "search", "write", "add_ms", "delete_ms"]
        vals = [x["all"], x["search"], x["write"], x["add_ms"], x["delete_ms"]]
        pos = np.arange(len(names))
        for off, key in ((-0.2, "p50_ms"), (0.2, "p99_ms")):
            ax.bar(pos + off, [v.get(key) or 0 for v in vals], 0.4, label=key[:-3])
        ax.axhline(100, color="red", lw=1, ls="--", label="goal p99 100 ms")
        ax.set_xticks(pos, ["all", "search", "writes", "add", "delete"])
        ax.set_yscale("log")
        ax.set_ylabel("client latency (ms)")
        ax.legend()
        ax.set_title(f"{x['clients']} clients ({x['writers']} writing), {x['count_before']:,} items, {x['all']['throughput_rps']} req/s, "
                     f"{x['all']['errors']} errors", fontsize=9)
        fig.suptitle(f"load average at start {result['provenance']['load_before']}; see {path.stem}.md", fontsize=8)


def ready_to_serve(index: Path, args) -> None:
    """The index's thumbnails and the model's static text encoder (the service's default; fitted once, then cached)."""
    from distilhash.pipeline.query_encoder import fit_query_encoder
    from distilhash.serve.thumbs import THUMBS_FILE, write_thumbnails

    if not (index / THUMBS_FILE).exists():
        write_thumbnails(index)
    fit_query_encoder(args.model, args.dataset, args.features, args.teacher)


def summary_markdown(result: dict) -> str:
    lines = ["# Writes under load, repeated: one writable process vs several server processes + the writer", "",
             f"{result['note']}  ", "Each cell: mean ± sample std over the runs (client side). Source runs and their load averages below.", "",
             "| server processes | runs | " + " | ".join(label for label, _, _ in FIGURES) + " | search p99 ms, each run | errors | read-back checked / stale | adds missing | deletes not gone |",
             "|---|---|" + "---|" * (len(FIGURES) + 5)]
    for workers, g in result["settings"].items():
        cells = [f"{g['figures'][label]['mean']} ± {g['figures'][label]['std'] if g['figures'][label]['std'] is not None else '-'}"
                 for label, _, _ in FIGURES]
        c = g["checks"]
        each = ", ".join(f"{x:.1f}" for x in g.get("search_p99_each_run", []))
        lines.append(f"| {workers} | {len(g['runs'])} | " + " | ".join(cells) + f" | {each} | {c['errors']} | {c['read_back_checked']:,} / "
                     f"{c['read_back_stale']} | {c['adds_missing']} | {c['deletes_not_gone'] + c['disk_deletes_present']} |")
    lines += ["", "## Runs", "", "| server processes | file | load average at start |", "|---|---|---|"]
    for workers, g in result["settings"].items():
        lines += [f"| {workers} | `{r['file'][:-5]}.md` | {r['load_before']} |" for r in g["runs"]]
    return "\n".join(lines + [""])


def summary_plot(result: dict, path: Path) -> None:
    labels = ["search p50 ms", "search p99 ms", "all p99 ms", "add p99 ms"]
    with figure(path, figsize=(7, 4)) as (fig, ax):
        settings = list(result["settings"].items())
        pos = np.arange(len(labels))
        width = 0.8 / max(1, len(settings))
        for i, (workers, g) in enumerate(settings):
            ax.bar(pos + i * width, [g["figures"][x]["mean"] for x in labels], width,
                   yerr=[g["figures"][x]["std"] or 0 for x in labels], label=f"{workers} server process(es)")
        ax.axhline(100, color="red", lw=1, ls="--", label="goal p99 100 ms (quiet machine)")
        ax.set_xticks(pos + width * (len(settings) - 1) / 2, labels)
        ax.set_yscale("log")
        ax.set_ylabel("client latency (ms), mean ± std over runs")
        ax.legend(fontsize=8)
        fig.suptitle(f"{path.stem}: {result['note'][:110]}", fontsize=7)


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

    t_start = time.time()
    served = prepare_served(args, lambda: load_features_and_split(args.dataset, args.teacher, args.features)[:3],
                            lambda index: ready_to_serve(index, args))
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
