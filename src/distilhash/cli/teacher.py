"""``distilhash teacher``: fit the offline teacher, extract and cache features, show what a teacher is.

Fitting: :func:`distilhash.teachers.fitting.fit_teacher`; extraction: :mod:`distilhash.teachers.cache`.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from distilhash.cli.errors import Typer
from distilhash.teachers.fitting import FIT_KINDS

app = Typer(no_args_is_help=True)



@app.command()
def fit(
    kind: str = typer.Option("minilm-lit", "--kind", help=f"Teacher kind to fit: {', '.join(FIT_KINDS)}."),
    dataset: str = typer.Option(None, "--dataset", help="Prepared dataset whose split.train pairs fit the heads (lite0-minilm)."),
    out: Path = typer.Option(None, "--out", help="Output directory (default: $DISTILHASH_HOME/teachers/minilm-lit, "
                                                "or .../lite0-minilm-DATASET)."),
    set_: list[str] = typer.Option([], "--set", help="Config override KEY=VALUE (e.g. epochs=4, tower.image_size=48)."),
    threads: int = typer.Option(None, "--threads", help="torch threads (default: $DISTILHASH_THREADS, else the cores "
                                 "other work leaves free now, at least 1)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Fit an offline teacher of one kind (--kind): minilm-lit (a LiT image tower) or heads on two frozen pretrained
    towers (the lite0-* kinds; docs/teachers.md has each)."""
    from distilhash.configs import parse_nested_overrides
    from distilhash.teachers.fitting import fit_teacher

    fit_teacher(kind, dataset, out, parse_nested_overrides(set_), threads, progress, say=typer.echo)


@app.command()
def extract(
    dataset: str = typer.Option(..., "--dataset", help="Prepared dataset name or directory."),
    teacher: str = typer.Option(None, "--teacher", help="Teacher spec (lite0-prior:openclipart, lite0-prior, minilm-lit, "
                                "hf:..., openclip:..., features:PATH); default: the strongest offline teacher available "
                                "(distilhash.teachers.default_choice)."),
    out: Path = typer.Option(None, "--out", help="Cache directory (default: $DISTILHASH_HOME/features/DATASET__TEACHER)."),
    batch_size: int = typer.Option(128, "--batch-size"),
    template: str = typer.Option("a photo of {}", "--template", help="Label-prompt template (a name or a string with {})."),
    device: str = typer.Option("cpu", "--device"),
    threads: int = typer.Option(None, "--threads", help="torch threads (default: $DISTILHASH_THREADS, else the cores "
                                 "other work leaves free now, at least 1)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a cache made for another teacher/dataset."),
    engine: str = typer.Option("local", "--engine", help="local (one process) or ray (teacher in Ray actors, "
                               "written part by part; see docs/distributed.md)."),
    ray_address: str = typer.Option(None, "--ray-address", help="Ray cluster to use with --engine ray (default: "
                                    "$RAY_ADDRESS, else a local cluster started for this command)."),
    workers: int = typer.Option(None, "--workers", help="Ray actors holding the teacher (default: cluster CPUs / threads)."),
    part_size: int = typer.Option(2048, "--part-size", help="Rows per part with --engine ray (the unit of resumption)."),
    label_templates: list[str] = typer.Option([], "--label-template", help="A further label-prompt template whose "
                                              "prompts are stored beside the cache (e.g. bare, for SODA's "
                                              "prompt_template); repeatable."),
) -> None:
    """Encode a dataset's images, texts, label prompts and class prompts once; resumable."""
    from distilhash.pipeline.extract import extract_teacher_features
    from distilhash.teachers.cache import cache_status, default_features_dir, load_features

    if teacher is None:
        from distilhash.teachers.default_choice import best_offline_candidate

        picked = best_offline_candidate()
        teacher = picked.spec
        typer.echo(f"teacher: {teacher} - {picked.where}; the strongest offline teacher available here "
                   "(why: `distilhash teacher info`; --teacher to choose another)")
    before = None
    if out is not None or not Path(dataset).exists():
        before = cache_status(out if out is not None else default_features_dir(dataset, teacher))
    path = extract_teacher_features(dataset, teacher, out, engine=engine, batch_size=batch_size, template=template,
                                    device=device, threads=threads, overwrite=overwrite, ray_address=ray_address,
                                    workers=workers, part_size=part_size, label_templates=tuple(label_templates))
    fs = load_features(path)
    m = fs.manifest
    typer.echo(f"features of {m['dataset']} ({m['count']} items, width {m['width']}) by {m['teacher']} -> {path}")
    if before == "complete" and not overwrite:
        typer.echo("  the cache was already complete: its rows were reused, not recomputed (the figures below are from when it was made)")
    for k, v in m.get("throughput", {}).items():
        typer.echo(f"  {k}: {v:.1f}" if isinstance(v, float) else f"  {k}: {v}")


@app.command()
def info(
    what: str = typer.Argument(None, help="A teacher spec, or a feature cache directory / name (default: the "
                               "teacher `teacher extract` picks here without --teacher)."),
    as_json: bool = typer.Option(False, "--json", help="A teacher's whole info() as JSON (the selection grid, "
                                 "heads, sources) instead of the short card."),
) -> None:
    """Describe a teacher (which copy answered: shipped or fitted here, what it was fitted on, the kept epoch and
    why, fingerprint) or a feature cache (manifest)."""
    from distilhash.teachers.describe import describe_teacher_or_cache

    picked = None
    if what is None:
        from distilhash.teachers.default_choice import best_offline_teacher

        what, picked = best_offline_teacher()
    desc = describe_teacher_or_cache(what)
    if desc["kind"] == "feature cache":
        typer.echo(f"feature cache {desc['path']}")
        typer.echo(json.dumps(desc["manifest"], indent=2))
    elif desc["kind"] == "unfinished feature cache":
        typer.echo(f"unfinished feature cache {desc['path']}: rows done {desc['done']} of {desc['count']}")
    elif as_json:
        default = {"default": f"the teacher `teacher extract` picks here without --teacher: {picked}"} if picked else {}
        typer.echo(json.dumps({"summary": desc["summary"], **default, **desc["info"]}, indent=2, default=str))
    else:
        from distilhash.teachers.describe import teacher_card

        typer.echo("\n".join(teacher_card(desc["info"], picked)))
        typer.echo(f"(everything, as JSON: distilhash teacher info {desc['info'].get('name', what)} --json)")


@app.command()
def search(
    dataset: str = typer.Option(..., "--dataset", help="Prepared dataset name or directory (`data prepare`)."),
    text: list[str] = typer.Option([], "--text", help="Text query (repeatable)."),
    image: list[Path] = typer.Option([], "--image", help="Image file query (repeatable)."),
    k: int = typer.Option(10, "--k", "-k", help="Results per query."),
    teacher: str = typer.Option(None, "--teacher", help="Teacher spec whose features to search (default: the "
                                "dataset's only feature cache; `teacher extract` makes one)."),
    modality: str = typer.Option("image", "--modality", help="Rank the items' image features (default) or their "
                                 "caption (text) features."),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
) -> None:
    """Search a dataset by the teacher's float features (no codes, no index): what a trained index is compared with."""
    from distilhash.cli.errors import EXIT_USAGE, fail
    from distilhash.cli.search import print_results
    from distilhash.pipeline.feature_search import SEARCHED_MODALITIES, search_features

    if bool(text) == bool(image):
        fail("give --text or --image (one kind per call)", EXIT_USAGE)
    if modality not in SEARCHED_MODALITIES:
        fail(f"--modality {modality!r}; expected one of {', '.join(SEARCHED_MODALITIES)}", EXIT_USAGE)
    found = search_features(dataset, texts=text, images=image, k=k, teacher=teacher, modality=modality)
    rows = [[(h.id, h.score, h.metadata) for h in hits] for hits in found.hits]
    if as_json:
        typer.echo(json.dumps({"dataset": found.dataset, "teacher": found.teacher, "modality": found.modality,
                               "features": str(found.features_dir), "items": found.n_items,
                               "queries": [{"query": q, "results": [{"id": i, "score": s, **_public(m)} for i, s, m in r]}
                                           for q, r in zip(found.queries, rows)]}, indent=2, ensure_ascii=False))
        return
    typer.echo(f"{found.n_items} items of {found.dataset} ranked by the cosine of {found.teacher}'s {found.modality} "
               f"features ({found.features_dir}) with each query's {'text' if text else 'image'} features")
    has_files = any(h.metadata.get("image") for hits in found.hits for h in hits)  # folders: yes; array stores: no
    print_results(found.queries, rows, score_name="score", paths=modality == "image" and has_files,
                  caption="score: cosine of the teacher features, higher is closer (the float teacher: no codes)")


def _public(metadata: dict) -> dict:
    """The hit's caption, labels and image path for --json."""
    from distilhash.data.captions import shown_caption

    return {"caption": shown_caption(metadata), "labels": metadata.get("labels"), "image": metadata.get("image")}
