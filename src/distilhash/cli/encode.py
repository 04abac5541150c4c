"""``distilhash encode MODEL_DIR``: encode one part of a dataset with a trained model.

    distilhash encode runs/dcmq64 --dataset emoji-scenes --part retrieval --out retrieval.npz

Writes one ``.npz`` file (format: :mod:`distilhash.codes_file`) through
:func:`distilhash.pipeline.encode.encode_database`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from distilhash.cli.names import run_path

from distilhash.pipeline.encode import PARTS

__all__ = ["command"]


def command(
    model_dir: Path = typer.Argument(..., help="A model directory written by `distilhash train`, or its run name.", callback=run_path),
    dataset: str = typer.Option(None, "--dataset", help="Prepared dataset name or directory (default: the one the model "
                                "was trained on)."),
    teacher: str = typer.Option(None, "--teacher", help="Teacher whose feature cache to read (default: the one the model was trained on)."),
    features: Path = typer.Option(None, "--features", help="Feature cache directory (default: the teacher's cache)."),
    part: str = typer.Option("retrieval", "--part", help=f"Which items: {', '.join(PARTS)}."),
    modality: str = typer.Option("both", "--modality", help="image, text or both."),
    role: str = typer.Option("database", "--role", help="database (stored codes) or query (what a query is scored with)."),
    out: Path = typer.Option(..., "--out", help="Output .npz file."),
    threads: int = typer.Option(None, "--threads", help="Torch threads (default: $DISTILHASH_THREADS, else 1)."),
) -> None:
    """Encode a part of a dataset with a trained model and write the codes to an .npz file."""
    from distilhash.errors import DataError
    from distilhash.pipeline.encode import encode_database

    from distilhash.threads import set_threads

    set_threads(threads)
    if modality not in ("image", "text", "both"):
        raise DataError(f"--modality {modality!r}; expected image, text or both")
    if role not in ("database", "query"):
        raise DataError(f"--role {role!r}; expected database or query")
    mods = ("image", "text") if modality == "both" else (modality,)
    enc = encode_database(model_dir, dataset, out, teacher=teacher, features=features, part=part,
                          modalities=mods, role=role)
    for m, codes in enc.codes.items():
        typer.echo(f"{m}: {len(codes)} items -> {codes.kind} codes {codes.data.shape} ({codes.bytes_per_item} bytes/item)")
    n = len(enc.indices) * len(enc.codes)
    source = "from dataset pixels/texts" if enc.from_dataset else "from cached features"
    typer.echo(f"wrote {out} ({n / max(enc.seconds, 1e-9):,.0f} items/s {source})")
