"""Encode a prepared dataset with a teacher into the feature cache, locally or on Ray (``distilhash teacher extract``)."""

from __future__ import annotations

from pathlib import Path

from distilhash.errors import ConfigError

__all__ = ["EXTRACT_ENGINES", "extract_teacher_features"]

#: local: one process (:func:`distilhash.teachers.cache.extract_features`); ray: the teacher in Ray
#: actors, written part by part (:func:`distilhash.distributed.extract.extract_features_ray`).
EXTRACT_ENGINES = ("local", "ray")


def extract_teacher_features(dataset: str, teacher: str = "minilm-lit", out: str | Path | None = None, *,
                             engine: str = "local", batch_size: int = 128, template: str = "a photo of {}",
                             device: str = "cpu", threads: int | None = None, overwrite: bool = False,
                             ray_address: str | None = None, workers: int | None = None,
                             part_size: int = 2048, label_templates: tuple[str, ...] = ()) -> Path:
    """Encode ``dataset``'s images, texts, label prompts and class prompts once (resumable); the cache directory.

    ``out`` defaults to ``$DISTILHASH_HOME/features/DATASET__TEACHER``; ``threads`` are torch
    threads (per Ray actor with ``engine="ray"``; None = :func:`distilhash.threads.fit_threads`, the free cores). ``label_templates``: further label-prompt
    templates whose per-item prompts are encoded and stored beside the cache
    (:func:`distilhash.teachers.label_prompts.extract_label_prompts`; read by SODA's ``prompt_template``).
    """
    from distilhash.threads import fit_threads, set_threads

    if engine not in EXTRACT_ENGINES:
        raise ConfigError(f"--engine {engine!r}; expected local or ray")
    threads = set_threads(fit_threads(threads))
    opts = {} if teacher.startswith("features:") else {"device": device}
    if engine == "ray":
        from distilhash.distributed.extract import extract_features_ray

        path = Path(extract_features_ray(dataset, teacher, out, batch_size=batch_size, template=template,
                                         part_size=part_size, workers=workers, cpus_per_worker=threads,
                                         address=ray_address, overwrite=overwrite, teacher_options=opts))
    else:
        from distilhash.teachers.cache import extract_features

        path = Path(extract_features(dataset, teacher, out, batch_size=batch_size, template=template,
                                     overwrite=overwrite, teacher_options=opts))
    if label_templates:
        from distilhash.teachers.cache import load_features
        from distilhash.teachers.label_prompts import extract_label_prompts

        features = load_features(path)
        for name in label_templates:
            extract_label_prompts(features, name, cache_dir=path, teacher=teacher)
    return path
