"""Blind judging of top-10 lists by eye (``bench/everyday_queries.py``): contact sheets and the judged table.

Usage::

    contact_sheet(rows_of_thumbnails, row_labels, path)      # one row per query, positions 1-10 marked
    text = judged_table(json.load(everyday_json), json.load(judgments_json))

The sheets are numbered by a seeded shuffle so the judge does not know which ranking a sheet shows;
the key (sheet -> ranking) is joined with the judgments only in :func:`judged_table`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["contact_sheet", "judged_table"]


def contact_sheet(images: list[list[np.ndarray]], labels: list[str], path: Path, cell: int = 80) -> None:
    """Rows of uint8 ``[H, W, 3]`` thumbnails, a label at the left of each row; saved as PNG."""
    from PIL import Image, ImageDraw

    left = 130
    sheet = Image.new("RGB", (left + cell * max(len(r) for r in images), cell * len(images)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (row, label) in enumerate(zip(images, labels)):
        draw.text((4, i * cell + cell // 2 - 6), label, fill="black")
        for j, im in enumerate(row):
            sheet.paste(Image.fromarray(im).resize((cell - 4, cell - 4)), (left + j * cell + 2, i * cell + 2))
            draw.text((left + j * cell + 3, i * cell + 2), str(j + 1), fill="red")
        draw.line([(0, (i + 1) * cell - 1), (sheet.width, (i + 1) * cell - 1)], fill="#bbbbbb")
    sheet.save(path)


def judged_table(data: dict[str, Any], judged: dict[str, Any]) -> str:
    """The P@10 table of the judged sheets: ``data`` is ``everyday.json`` (queries, key sheet -> ranking,
    provenance, optionally the query file's ``judging`` rule), ``judged`` the judgments (sheet -> query ->
    positions of the hits in the top 10)."""
    queries = data["queries"]
    table: dict[str, Any] = {}
    for sheet, name in data["key"].items():
        if sheet in judged:
            table[name] = {q: len(judged[sheet][q]) / 10 for q in queries}  # positions of the hits in the top 10
    lines = [f"# {len(queries)} everyday queries, top 10 judged by eye (blind: sheets numbered by a seeded shuffle)", "",
             f"A hit ({data.get('query_file', 'bench/everyday_queries.json')}, written before any result): "
             f"{data.get('judging') or 'the drawing shows the thing named.'}", "",
             "| query | " + " | ".join(table) + " |", "|---" * (1 + len(table)) + "|"]
    for q in queries:
        lines.append(f"| {q} | " + " | ".join(f"{t[q]:.1f}" for t in table.values()) + " |")
    lines.append("| **mean P@10** | " + " | ".join(f"**{np.mean(list(t.values())):.2f}**" for t in table.values()) + " |")
    lines.append("| queries with P@10 = 0 | " + " | ".join(str(sum(v == 0 for v in t.values())) for t in table.values()) + " |")
    lines += ["", "Sheets: " + ", ".join(f"`{s}.png` = {n}" for s, n in data["key"].items()),
              f"; provenance in `everyday.json` (commit {data['provenance']['commit'][:7]}, load "
              f"{data['provenance']['load_before']} -> {data['provenance']['load_after']})."]
    return "\n".join(lines) + "\n"
