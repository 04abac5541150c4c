"""``distilhash serve INDEX_DIR``: the HTTP search API and the web page over a built index.

    distilhash serve runs/ix                                 # http://127.0.0.1:8000/
    distilhash serve runs/ix-images runs/ix-texts --port 8080 --api-key "$KEY"

Give one index per stored modality (an image index answers text->image and image->image
queries; add a text index for image->caption queries). See docs/serve.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from distilhash.cli.names import index_paths, run_path


def command(
    index_dirs: list[Path] = typer.Argument(..., help="Index directory (or one image index and one text index); names from `distilhash paths` work too.", callback=index_paths),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default: loopback only)."),
    port: int = typer.Option(8000, "--port", help="Port."),
    model: Path = typer.Option(None, "--model", help="Model directory or run name (default: the one the index records).", callback=run_path),
    teacher: str = typer.Option(None, "--teacher", help="Teacher spec (default: the model's)."),
    api_key: str = typer.Option(None, "--api-key", help="Key for adding/deleting items (header X-API-Key); "
                                "'random' makes one; default: $DISTILHASH_API_KEY, else read-only."),
    max_upload_mb: float = typer.Option(8.0, "--max-upload-mb", help="Largest accepted upload (MB)."),
    text_cache: int = typer.Option(4096, "--text-cache", help="LRU entries of text embeddings (0 = off)."),
    threads: int = typer.Option(1, "--threads", help="torch threads for the teacher and model (1 is fastest on a busy machine)."),
    query_encoder: str = typer.Option("auto", "--query-encoder", help="Text query features: 'static' (the model's static "
                                      "encoder distilled from the teacher's text tower, MODEL/static-text), 'teacher' (the "
                                      "teacher's text tower) or 'auto' (static when the model has one, else the teacher)."),
    static_dir: Path = typer.Option(None, "--static-dir", help="Static encoder folder (default: MODEL/static-text)."),
    search_batch: int = typer.Option(64, "--search-batch", help="Most concurrent text queries projected and searched together."),
    workers: int = typer.Option(1, "--workers", help="Server processes sharing the port (each loads the index and model; "
                                "HTTP handling then uses several cores). With --api-key this process is the index's one "
                                "writer and the server processes forward adds and deletes to it (single indexes)."),
    writer_nice: int = typer.Option(0, "--writer-nice", help="With --api-key and --workers 2+: run each write (its image "
                                    "encoding) this much lower in CPU priority (nice 0-19) so searches get the CPU first."),
    index_backend: str = typer.Option("auto", "--index-backend", help="Index searcher (auto = exact; 'ivf' = approximate "
                                      "inverted-file search for PQ indexes)."),
    index_option: list[str] = typer.Option(None, "--index-option", help="Searcher option KEY=VALUE (repeatable), e.g. nprobe=32."),
    allowed_host: list[str] = typer.Option(None, "--allowed-host", help="Host name clients may use to reach the service "
                                           "(repeatable; '*' = any). Bound to loopback, only loopback names are answered "
                                           "(a guard against DNS rebinding) unless more are given here."),
    search_workers: int = typer.Option(1, "--search-workers", help="Text-search worker threads per index, each with its own "
                                       "read-only handle (several cores search at once; not for a one-process writable service)."),
    engine: str = typer.Option("local", "--engine", help="Where a sharded index searches its shards: local (threads in "
                               "this process) or ray (Ray actors holding the shards, --replicas per shard, failover; "
                               "answers say partial when a shard has no live replica). See docs/distributed.md."),
    ray_address: str = typer.Option(None, "--ray-address", help="With --engine ray: the cluster's GCS address "
                                    "(HOST:6379 or auto; default $RAY_ADDRESS, else a local cluster)."),
    replicas: int = typer.Option(None, "--replicas", help="With --engine ray: actors per shard, on different nodes "
                                 "when there are enough (default 2).", min=1),
    ray_calls_only: bool = typer.Option(False, "--ray-calls-only", help="With --engine ray: search the shard actors "
                                        "through Ray calls only, not their data-plane sockets (slower; for diagnosis)."),
) -> None:
    """Serve search by text or image, item fetch, stats, and add/delete behind an API key.

    While it starts it says on stderr what it is loading (the teacher's towers take ~45 s on a busy
    machine), then the address to open."""
    from distilhash.configs import parse_overrides
    from distilhash.serve.server import start_service

    key = api_key or os.environ.get("DISTILHASH_API_KEY") or None
    if engine not in ("local", "ray"):
        raise typer.BadParameter(f"{engine!r}: expected local or ray", param_hint="--engine")
    if engine != "ray" and (replicas is not None or ray_address or ray_calls_only):
        raise typer.BadParameter("--replicas, --ray-address and --ray-calls-only need --engine ray", param_hint="--engine")
    ray_options = {"replicas": replicas or 2, **({"data_plane": False} if ray_calls_only else {})}
    ray = {"engine": "ray", "engine_options": ray_options, "ray_address": ray_address} if engine == "ray" else {}
    options = parse_overrides(index_option or [], option="--index-option")
    start_service([str(d) for d in index_dirs], host=host, port=port, model_dir=model, teacher=teacher, api_key=key,
                  max_upload_mb=max_upload_mb, torch_threads=threads, text_cache_size=text_cache,
                  query_encoder=query_encoder, static_text_dir=str(static_dir) if static_dir else None,
                  max_search_batch=search_batch, search_workers=search_workers, workers=workers, writer_nice=writer_nice,
                  index_backend=index_backend, index_options=options, allowed_hosts=allowed_host or None,
                  announce=lambda line: typer.echo(line, err=True), **ray)
