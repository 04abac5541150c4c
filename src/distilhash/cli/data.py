"""``distilhash data``: prepare, split, info, check (preparing and splitting: :mod:`distilhash.data.prepare`)."""

from __future__ import annotations

from pathlib import Path

import typer

from distilhash.cli.errors import EXIT_USAGE, Typer, fail, reporting

app = Typer(no_args_is_help=True)


@app.command()
def prepare(
    source: str = typer.Argument(..., help="Dataset source: emoji-scenes, emoji-pretrain, openclipart, dcmh-mat, dchmt-mat, folder."),
    path: Path = typer.Option(None, "--path", help="Source files (a .mat file, a DCHMT directory, a folder, the openclipart root)."),
    image_root: Path = typer.Option(None, "--image-root", help="Rewrite image paths under this directory."),
    name: str = typer.Option(None, "--name", help="Name of the prepared dataset (default: the source name)."),
    out: Path = typer.Option(None, "--out", help="Output directory (default: $DISTILHASH_HOME/datasets/NAME)."),
    preset: str = typer.Option(None, "--preset", help="Benchmark split preset (mirflickr25k, nuswide21, mscoco, iaprtc12, "
                               "emoji-scenes, openclipart). Default: the source's own preset, else sizes scaled to the collection."),
    seed: int = typer.Option(0, "--seed", help="Split seed."),
    n_query: int = typer.Option(None, "--queries", "--n-query", help="Split size: held-out query items."),
    n_train: int = typer.Option(None, "--train", "--n-train", help="Split size: training items (a subset of retrieval)."),
    n_retrieval: int = typer.Option(None, "--retrieval", "--n-retrieval", help="Split size: retrieval items (default: every non-query item)."),
    n_val: int = typer.Option(None, "--val", "--n-val", help="Split size: validation items carved from train."),
    no_split: bool = typer.Option(False, "--no-split", help="Save no split (e.g. a pretraining corpus)."),
    opt: list[str] = typer.Option([], "--opt", help="Source option KEY=VALUE (repeatable; JSON values, else strings)."),
) -> None:
    """Build a dataset from SOURCE, save it with a seeded split, and print what it holds and what to run next.

    The split: --preset for a benchmark's conventional sizes; else any of --queries/--train/--val/--retrieval
    (the others scaled to the collection); else sizes scaled to the collection (10% queries, the rest
    retrieval = train, 10% of train for validation; 30 items: 3 / 27 / 27 / 3).
    """
    from distilhash.configs import parse_overrides
    from distilhash.data.prepare import prepare_dataset
    from distilhash.paths import datasets_dir

    sizes = {"n_query": n_query, "n_train": n_train, "n_retrieval": n_retrieval, "n_val": n_val}
    if (preset is not None) + any(v is not None for v in sizes.values()) + no_split > 1:
        fail("choose one of --preset, split sizes (--queries/--train/--val/--retrieval) and --no-split", EXIT_USAGE)
    with reporting(EXIT_USAGE):
        options = parse_overrides(opt, option="--opt")
    if name is not None:
        options["name"] = name
    if path is not None:
        options["path"] = path
    if image_root is not None:
        options["image_root"] = image_root
    prepared = prepare_dataset(source, options, out, preset=preset, sizes=sizes, seed=seed, no_split=no_split)
    ds, target, split, note = prepared.dataset, prepared.directory, prepared.split, prepared.note
    typer.echo(f"prepared {ds.name}: {len(ds)} items -> {target}")
    _print_replaced(prepared, ds.name if target == datasets_dir() / ds.name else str(target))
    _print_info(target)
    if split is None:
        typer.secho(f"no split saved ({note}); training and evaluation need one", fg="yellow")
    else:
        typer.echo(f"split: {note}")
        ref = ds.name if target == datasets_dir() / ds.name else str(target)
        typer.echo(f"next: distilhash teacher extract --dataset {ref}   (then train, index build, search: "
                   "docs/own-collection.md)")


def _print_replaced(prepared, ref: str) -> None:
    """Say that an earlier dataset of the same name was replaced, and what made for it must be redone."""
    old = prepared.replaced
    if old is None:
        return
    new_split = prepared.split.hash if prepared.split is not None else None
    what = ("other items" if old["content_hash"] != prepared.dataset.content_hash()
            else "the same items, now split" if old["split_hash"] is None
            else "the same items, now without a split" if new_split is None
            else "the same items with another split")
    typer.secho(f"replaced the earlier {prepared.dataset.name!r} ({old['n_items']} items; now {what}): feature caches, "
                "models and indexes made from it no longer match it", fg="yellow")
    for cache in old["stale_features"]:
        typer.secho(f"  stale feature cache: {cache}", fg="yellow")
    if old["stale_features"]:
        typer.secho(f"  redo: distilhash teacher extract --dataset {ref} --overwrite, then train and index build again",
                    fg="yellow")


def _print_display_captions(ds, console) -> None:
    """How many titles the display-caption rule (distilhash.data.captions) replaced, and why."""
    summary = ds.meta.get("display_captions")
    if ds.display_texts is None or not summary:
        return
    n = summary.get("items", len(ds))
    of = f"{n} titles" if n == len(ds) else f"the {n} titles read (before filtering to {len(ds)} items)"
    console.print(f"display captions: {summary['replaced']} of {of} replaced, {summary.get('repaired', 0)} repaired "
                  f"(junk titles by rule: {', '.join(f'{k} {v}' for k, v in summary['title_junk'].items())}; "
                  f"shown text from: {', '.join(f'{k} {v}' for k, v in summary['source'].items() if v)})")
    changed = next((i for i, (t, d) in enumerate(zip(ds.texts or [], ds.display_texts)) if not t.startswith(d)), None)
    if changed is not None:
        console.print(f"example display caption: {ds.display_texts[changed]!r} (training text {ds.texts[changed][:80]!r})")


def _print_info(directory: Path, top: int = 15, grid: bool = True) -> None:
    from rich.console import Console
    from rich.table import Table

    from distilhash.data.dataset import load_dataset
    from distilhash.data.split import Split
    from distilhash.data.stats import relevant_share, text_length_stats
    from distilhash.data.store import SPLIT_FILE

    ds = load_dataset(directory)
    console = Console()
    console.print(f"[bold]{ds.name}[/bold]  {directory}")
    console.print(f"items: {len(ds)}   labels: {ds.num_labels}   content hash: {ds.content_hash()}")
    for note in ds.meta.get("filters", []):
        console.print(f"filter: {note}")
    for note in ds.meta.get("notes", []):
        console.print(f"note: {note}")
    counts = ds.meta.get("filter_counts")
    if counts:
        console.print("filtered by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
                      + (f"  (per file: {directory / 'filtered.jsonl'})" if (directory / "filtered.jsonl").is_file() else ""))
    split_path = directory / SPLIT_FILE
    split = None
    if split_path.is_file():
        split = Split.load(split_path, dataset_hash=ds.content_hash())
        sizes = ", ".join(f"{k} {v}" for k, v in split.sizes().items())
        origin = {"auto": ", sizes scaled to the collection", "sizes": ", sizes given"}.get(
            split.spec.origin, f", {split.spec.origin.replace(':', ' ')}" if split.spec.origin else "")
        console.print(f"split {split.hash} (seed {split.spec.seed}{origin}): {sizes}")
    else:
        console.print("split: none saved")
    if split is not None and ds.num_labels:
        from distilhash.eval.chance import random_map_exact

        ch = relevant_share(ds.labels, split.query, split.retrieval)
        exact = random_map_exact(ds.labels[split.query], ds.labels[split.retrieval])
        console.print(f"chance level (expected mAP@all of a random ranking, exact): {exact:.4f}; "
                      f"mean share of retrieval items relevant to a query {ch['mean']:.4f} (median {ch['median']:.4f}, "
                      f"queries without any relevant item: {ch['queries_without_relevant']})")
    if split is not None and ds.texts is not None:
        from distilhash.data.images import ArrayImageStore
        from distilhash.data.split_groups import KEY_DESCRIPTIONS, overlap_counts

        names = ["text", "title"] + (["dhash"] if isinstance(ds.images, ArrayImageStore) else [])
        over = overlap_counts(ds, split, names)
        console.print(f"split grouping: {split.spec.group_by or 'none (item-level)'}; queries sharing with a retrieval "
                      "item " + ", ".join(f"{KEY_DESCRIPTIONS[k]}: {v}" for k, v in over.items()) + f" (of {len(split.query)})")
    if ds.texts:
        tl = text_length_stats(ds.texts)
        console.print(f"text words: mean {tl['mean']}, median {tl['median']:g}, max {tl['max']}, empty {tl['empty']}")
        console.print(f"example text: {ds.texts[0]!r}")
    _print_display_captions(ds, console)
    if ds.num_labels:
        freq = sorted(ds.label_frequencies().items(), key=lambda kv: -kv[1])
        per_item = ds.labels.sum(axis=1)
        console.print(
            f"labels per item: mean {per_item.mean():.2f}, min {per_item.min()}, max {per_item.max()}; "
            f"items with no label: {int((per_item == 0).sum())}"
        )
        # a line of its own: as a Table title it wrapped to the table's width, mid-phrase
        console.print(f"label frequencies (top {min(top, len(freq))} of {len(freq)}; rarest: {freq[-1][0]} {freq[-1][1]}):")
        table = Table()
        table.add_column("label")
        table.add_column("items", justify="right")
        table.add_column("share", justify="right")
        for label, count in freq[:top]:
            table.add_row(label, str(count), f"{count / len(ds):.1%}")
        console.print(table)
    if grid:
        _write_grid(ds, directory, console)


def _write_grid(ds, directory: Path, console) -> None:
    """Write (once) and point to ``sample_grid.png``: 48 seeded items of the dataset."""
    from distilhash.data.sample_grid import save_sample_grid
    from distilhash.errors import DataError

    path = directory / "sample_grid.png"
    if not path.is_file() and len(ds):
        try:
            save_sample_grid(ds, path)
        except (DataError, OSError) as exc:
            console.print(f"sample grid: not written ({exc})")
            return
    if path.is_file():
        console.print(f"sample grid ({min(48, len(ds))} items drawn with seed 0): {path}")


@app.command()
def split(
    dataset: str = typer.Argument(..., help="Prepared dataset name or directory."),
    preset: str = typer.Option(None, "--preset", help="Benchmark split preset."),
    seed: int = typer.Option(0, "--seed", help="Split seed."),
    n_query: int = typer.Option(None, "--queries", "--n-query", help="Held-out query items."),
    n_train: int = typer.Option(None, "--train", "--n-train", help="Training items (a subset of retrieval)."),
    n_retrieval: int = typer.Option(None, "--retrieval", "--n-retrieval", help="Retrieval items (default: every non-query item)."),
    n_val: int = typer.Option(None, "--val", "--n-val", help="Validation items carved from train."),
    force: bool = typer.Option(False, "--force", help="Replace an existing split (features and models made with it no "
                               "longer match and must be made again)."),
) -> None:
    """Draw (or redraw) the split of a prepared dataset: a preset, given sizes, or sizes scaled to it."""
    from distilhash.data.prepare import redraw_split

    sizes = {"n_query": n_query, "n_train": n_train, "n_retrieval": n_retrieval, "n_val": n_val}
    if preset is not None and any(v is not None for v in sizes.values()):
        fail("give --preset or split sizes, not both", EXIT_USAGE)
    drawn, note, directory = redraw_split(dataset, preset=preset, sizes=sizes, seed=seed, force=force)
    typer.echo(f"split {drawn.hash} of {directory}: {note}")


@app.command()
def info(dataset: str = typer.Argument(..., help="Prepared dataset name or directory.")) -> None:
    """Show sizes, label frequencies and the split hash of a prepared dataset."""
    from distilhash.data.store import resolve_dataset_dir

    _print_info(resolve_dataset_dir(dataset))


@app.command()
def check(
    dataset: str = typer.Argument(..., help="Prepared dataset name or directory."),
    images: bool = typer.Option(True, help="Open every image file (file-backed datasets)."),
) -> None:
    """Validate a prepared dataset: hashes, split, image files, empty texts, unlabelled items."""
    from distilhash.data.check import check_dataset
    from distilhash.data.store import resolve_dataset_dir

    problems = check_dataset(resolve_dataset_dir(dataset), open_images=images)
    if problems:
        for p in problems:
            typer.secho(f"problem: {p}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo("ok: no problems found")
