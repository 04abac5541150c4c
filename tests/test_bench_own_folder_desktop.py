"""The label-free own-folder check's committed inputs (bench/own_folder/): every query names one listed picture,
and every ranking's judgments cover exactly those queries."""

from __future__ import annotations

import json
from pathlib import Path

OWN = Path(__file__).resolve().parents[1] / "bench" / "own_folder"


def test_each_query_names_one_listed_picture_from_a_debian_file():
    spec = json.loads((OWN / "desktop_pictures.json").read_text())
    pictures, queries = spec["pictures"], spec["queries"]
    assert 30 <= len(pictures) <= 40 and len(queries) == 10
    assert set(queries.values()) <= set(pictures) and len(set(queries.values())) == len(queries)
    # no openclipart drawing or Noto glyph: the only pictures the default teacher's pairs hold
    assert all(src.startswith(("/usr/share/backgrounds/", "/usr/share/icons/")) for src in pictures.values())
    stems = [Path(name).stem for name in pictures]
    assert len(set(stems)) == len(stems)  # ids are file stems: one picture per id


def test_the_judgments_cover_every_query_of_every_ranking():
    import importlib.util

    spec = json.loads((OWN / "desktop_pictures.json").read_text())
    judged = json.loads((OWN / "desktop_judged.json").read_text())["rankings"]
    loader = importlib.util.spec_from_file_location("own_folder_desktop", OWN.parent / "own_folder_desktop.py")
    bench = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(bench)
    assert set(judged) == set(bench.RANKINGS)
    for name, hits in judged.items():
        assert set(hits) == set(spec["queries"]), name
        assert all(isinstance(v, bool) for v in hits.values())
