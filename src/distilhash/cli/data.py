"""``distilhash data``: prepare, info, check."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)


def _parse_options(pairs: list[str]) -> dict[str, object]:
    """``["n_items=500", "name=x"]`` -> ``{"n_items": 500, "name": "x"}`` (ints/floats/bools parsed)."""
    out: dict[str, object] = {}
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"--opt {pair!r}: expected KEY=VALUE")
        key, value = pair.split("=", 1)
        parsed: object = value
        for cast in (int, float):
            try:
                parsed = cast(value)
                break
            except ValueError:
                continue
        if value.lower() in ("true", "false"):
            parsed = value.lower() == "true"
        out[key.strip().replace("-", "_")] = parsed
    return out


@app.command()
def prepare(
    source: str = typer.Argument(..., help="Dataset source: emoji-scenes, emoji-pretrain, openclipart, dcmh-mat, dchmt-mat, folder."),
    path: Path = typer.Option(None, "--path", help="Source files (a .mat file, a DCHMT directory, a folder, the openclipart root)."),
    image_root: Path = typer.Option(None, "--image-root", help="Rewrite image paths under this directory."),
    name: str = typer.Option(None, "--name", help="Name of the prepared dataset (default: the source name)."),
    out: Path = typer.Option(None, "--out", help="Output directory (default: $DISTILHASH_HOME/datasets/NAME)."),
    preset: str = typer.Option(None, "--preset", help="Split preset (mirflickr25k, nuswide21, mscoco, iaprtc12, emoji-scenes, openclipart)."),
    seed: int = typer.Option(0, "--seed", help="Split seed."),
    n_query: int = typer.Option(None, "--n-query", help="Split sizes instead of a preset: number of queries."),
    n_train: int = typer.Option(None, "--n-train", help="Training items (a subset of retrieval)."),
    n_retrieval: int = typer.Option(None, "--n-retrieval", help="Retrieval set size (default: every non-query item)."),
    n_val: int = typer.Option(None, "--n-val", help="Validation items carved from train (default: n_train // 10)."),
    opt: list[str] = typer.Option([], "--opt", help="Source option KEY=VALUE (repeatable)."),
) -> None:
    """Build a dataset from SOURCE, save it with a seeded split, and print what it holds."""
    from distilhash.data.dataset import save_dataset
    from distilhash.data.sources import create_source_dataset
    from distilhash.data.split import PRESETS, SplitSpec, make_split, preset as get_preset
    from distilhash.data.store import SPLIT_FILE
    from distilhash.errors import DistilhashError
    from distilhash.paths import datasets_dir

    if (n_query is None) != (n_train is None) or (preset is not None and n_query is not None):
        typer.secho("error: give --n-query and --n-train together, or --preset, not both", fg="red", err=True)
        raise typer.Exit(2)
    options = _parse_options(opt)
    if name is not None:
        options["name"] = name
    if path is not None:
        options["path"] = path
    if image_root is not None:
        options["image_root"] = image_root
    try:
        ds = create_source_dataset(source, **options)
        target = out or datasets_dir() / (name or ds.name)
        split = None
        preset_name = preset or (source if source in PRESETS else None)
        if n_query is not None:
            spec = SplitSpec(n_query, n_train, n_retrieval, n_train // 10 if n_val is None else n_val, seed)
            split = make_split(len(ds), spec, ds.content_hash())
        elif preset_name is not None:
            split = make_split(len(ds), get_preset(preset_name, seed), ds.content_hash())
        save_dataset(ds, target)
        if split is not None:
            split.save(target / SPLIT_FILE)
    except DistilhashError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"prepared {ds.name}: {len(ds)} items -> {target}")
    _print_info(target)


def _print_info(directory: Path, top: int = 15, grid: bool = True) -> None:
    from rich.console import Console
    from rich.table import Table

    from distilhash.data.dataset import load_dataset
    from distilhash.data.split import Split
    from distilhash.data.stats import chance_level, text_length_stats
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
        console.print(f"split {split.hash} (seed {split.spec.seed}): {sizes}")
    else:
        console.print("split: none saved")
    if split is not None and ds.num_labels:
        ch = chance_level(ds.labels, split.query, split.retrieval)
        console.print(f"chance level (mean share of retrieval items relevant to a query = random mAP@all): "
                      f"{ch['mean']:.4f} (median {ch['median']:.4f}, queries without any relevant item: "
                      f"{ch['queries_without_relevant']})")
    if ds.texts:
        tl = text_length_stats(ds.texts)
        console.print(f"text words: mean {tl['mean']}, median {tl['median']:g}, max {tl['max']}, empty {tl['empty']}")
        console.print(f"example text: {ds.texts[0]!r}")
    if ds.num_labels:
        freq = sorted(ds.label_frequencies().items(), key=lambda kv: -kv[1])
        per_item = ds.labels.sum(axis=1)
        console.print(
            f"labels per item: mean {per_item.mean():.2f}, min {per_item.min()}, max {per_item.max()}; "
            f"items with no label: {int((per_item == 0).sum())}"
        )
        table = Table(title=f"label frequencies (top {min(top, len(freq))} of {len(freq)}; rarest: "
                      f"{freq[-1][0]} {freq[-1][1]})")
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
        console.print(f"sample grid (48 items drawn with seed 0): {path}")


@app.command()
def info(dataset: str = typer.Argument(..., help="Prepared dataset name or directory.")) -> None:
    """Show sizes, label frequencies and the split hash of a prepared dataset."""
    from distilhash.data.store import resolve_dataset_dir
    from distilhash.errors import DistilhashError

    try:
        _print_info(resolve_dataset_dir(dataset))
    except DistilhashError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc


@app.command()
def check(
    dataset: str = typer.Argument(..., help="Prepared dataset name or directory."),
    images: bool = typer.Option(True, help="Open every image file (file-backed datasets)."),
) -> None:
    """Validate a prepared dataset: hashes, split, image files, empty texts, unlabelled items."""
    from distilhash.data.check import check_dataset
    from distilhash.data.store import resolve_dataset_dir
    from distilhash.errors import DistilhashError

    try:
        problems = check_dataset(resolve_dataset_dir(dataset), open_images=images)
    except DistilhashError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    if problems:
        for p in problems:
            typer.secho(f"problem: {p}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo("ok: no problems found")
