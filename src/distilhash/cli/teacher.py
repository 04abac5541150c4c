"""``distilhash teacher``: fit the offline teacher, extract and cache features, show what a teacher is."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg="red", err=True)
    raise typer.Exit(1) from exc


def _parse_sets(pairs: list[str]) -> dict[str, object]:
    """``["epochs=3", "tower.image_size=48", "max_minutes=none"]`` -> nested dict (JSON-ish values)."""
    out: dict[str, object] = {}
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"--set {pair!r}: expected KEY=VALUE")
        key, raw = pair.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None if raw.lower() == "none" else raw
        target = out
        parts = key.strip().replace("-", "_").split(".")
        for p in parts[:-1]:
            target = target.setdefault(p, {})  # type: ignore[assignment]
        target[parts[-1]] = value
    return out


def _fit_minilm_lit(dataset: str | None, out: Path | None, overrides: dict, threads: int, progress: bool) -> None:
    """minilm-lit: train the LiT image tower on the EmojiScenes pretraining corpus."""
    from distilhash.paths import teachers_dir
    from distilhash.teachers.lit_fit import LiTConfig, describe, fit_lit

    if dataset is not None:
        raise typer.BadParameter("--dataset: minilm-lit is fitted on its own pretraining corpus (set corpus_* keys instead)")
    base = LiTConfig().to_dict()
    tower = {**base.pop("tower"), **overrides.pop("tower", {})}  # type: ignore[arg-type]
    unknown = set(overrides) - set(base)
    if unknown:
        raise typer.BadParameter(f"unknown config keys {sorted(unknown)}; valid: {sorted(base)} and tower.*")
    config = LiTConfig.from_dict({**base, **overrides, "threads": threads, "tower": tower})
    target = out or teachers_dir() / "minilm-lit"
    typer.echo(f"fitting minilm-lit -> {target}\nconfig: {json.dumps(config.to_dict())}")
    info = fit_lit(config, target, progress=progress)
    typer.echo(describe(info))
    typer.echo(f"kept epoch {info['kept_epoch']} ({info['kept_because']}); total {info['timing_s']['total']:.0f} s")
    typer.echo(f"saved teacher to {target}")


def _fit_lite0_minilm(dataset: str | None, out: Path | None, overrides: dict, threads: int, progress: bool) -> None:
    """lite0-minilm: fit the projection heads on DATASET's split.train pairs (towers frozen)."""
    from distilhash.teachers.lite0_fit import Lite0FitConfig, describe, fit_lite0_minilm
    from distilhash.teachers.lite0_minilm import default_lite0_dir

    if dataset is None:
        raise typer.BadParameter("--dataset is required for --kind lite0-minilm (a prepared dataset name or directory)")
    base = Lite0FitConfig().to_dict()
    unknown = set(overrides) - set(base)
    if unknown:
        raise typer.BadParameter(f"unknown config keys {sorted(unknown)}; valid: {sorted(base)}")
    config = Lite0FitConfig.from_dict({**base, **overrides, "threads": threads})
    target = out or default_lite0_dir(dataset)
    typer.echo(f"fitting lite0-minilm on {dataset} -> {target}\nconfig: {json.dumps(config.to_dict())}")
    info = fit_lite0_minilm(dataset, target, config, progress=progress)
    typer.echo(describe(info))
    kept = info["kept"]
    typer.echo(f"kept {kept['heads']['image_head']} image head / {kept['heads']['text_head']} text head, epoch {kept['epoch']} "
               f"({info['kept_because']}); tower features {'from cache' if info['tower_features_from_cache'] else 'computed'}; "
               f"total {info['timing_s']['total']:.1f} s")
    spec = f"lite0-minilm:{target}" if out is not None else f"lite0-minilm:{Path(dataset).name}"
    typer.echo(f"saved teacher to {target} (use it as --teacher {spec})")


#: teacher kinds `teacher fit` can fit -> the function doing it
FIT_KINDS = {"minilm-lit": _fit_minilm_lit, "lite0-minilm": _fit_lite0_minilm}


@app.command()
def fit(
    kind: str = typer.Option("minilm-lit", "--kind", help=f"Teacher kind to fit: {', '.join(FIT_KINDS)}."),
    dataset: str = typer.Option(None, "--dataset", help="Prepared dataset whose split.train pairs fit the heads (lite0-minilm)."),
    out: Path = typer.Option(None, "--out", help="Output directory (default: $DISTILHASH_HOME/teachers/minilm-lit, "
                                                "or .../lite0-minilm-DATASET)."),
    set_: list[str] = typer.Option([], "--set", help="Config override KEY=VALUE (e.g. epochs=4, tower.image_size=48)."),
    threads: int = typer.Option(2, "--threads", help="torch threads."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Fit an offline teacher: minilm-lit (LiT image tower) or lite0-minilm (heads on two frozen pretrained towers)."""
    from distilhash.errors import DistilhashError

    if kind not in FIT_KINDS:
        raise typer.BadParameter(f"--kind {kind!r}: valid kinds are {', '.join(FIT_KINDS)}")
    try:
        FIT_KINDS[kind](dataset, out, _parse_sets(set_), threads, progress)
    except DistilhashError as exc:
        _fail(exc)


@app.command()
def extract(
    dataset: str = typer.Option(..., "--dataset", help="Prepared dataset name or directory."),
    teacher: str = typer.Option("minilm-lit", "--teacher", help="Teacher spec (minilm-lit, hf:..., openclip:..., features:PATH)."),
    out: Path = typer.Option(None, "--out", help="Cache directory (default: $DISTILHASH_HOME/features/DATASET__TEACHER)."),
    batch_size: int = typer.Option(128, "--batch-size"),
    template: str = typer.Option("a photo of {}", "--template", help="Label-prompt template (a name or a string with {})."),
    device: str = typer.Option("cpu", "--device"),
    threads: int = typer.Option(2, "--threads", help="torch threads."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a cache made for another teacher/dataset."),
) -> None:
    """Encode a dataset's images, texts, label prompts and class prompts once; resumable."""
    from distilhash.errors import DistilhashError
    from distilhash.teachers.cache import extract_features, load_features
    from distilhash.threads import set_threads

    set_threads(threads)
    try:
        opts = {} if teacher.startswith("features:") else {"device": device}
        path = extract_features(dataset, teacher, out, batch_size=batch_size, template=template,
                                overwrite=overwrite, teacher_options=opts)
        fs = load_features(path)
    except DistilhashError as exc:
        _fail(exc)
        return
    m = fs.manifest
    typer.echo(f"features of {m['dataset']} ({m['count']} items, width {m['width']}) by {m['teacher']} -> {path}")
    for k, v in m.get("throughput", {}).items():
        typer.echo(f"  {k}: {v:.1f}" if isinstance(v, float) else f"  {k}: {v}")


@app.command()
def info(
    what: str = typer.Argument("minilm-lit", help="A teacher spec, or a feature cache directory / name."),
) -> None:
    """Describe a teacher (width, weights, fingerprint) or a feature cache (manifest)."""
    from distilhash.errors import DistilhashError
    from distilhash.paths import features_dir
    from distilhash.teachers.cache import MANIFEST, PROGRESS

    try:
        for cand in (Path(what), features_dir() / what):
            if (cand / MANIFEST).is_file():
                manifest = json.loads((cand / MANIFEST).read_text())
                manifest.pop("files", None)
                manifest.pop("label_names", None)
                typer.echo(f"feature cache {cand}")
                typer.echo(json.dumps(manifest, indent=2))
                return
            if (cand / PROGRESS).is_file():
                state = json.loads((cand / PROGRESS).read_text())
                typer.echo(f"unfinished feature cache {cand}: rows done {state['done']} of {state['identity']['count']}")
                return
        from distilhash.teachers.registry import create_teacher

        t = create_teacher(what)
        desc = t.info() if hasattr(t, "info") else {"name": t.name, "width": t.width}
        typer.echo(json.dumps(desc, indent=2, default=str))
    except DistilhashError as exc:
        _fail(exc)
