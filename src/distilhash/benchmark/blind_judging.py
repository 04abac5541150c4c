"""Blind judging of top-10 lists by eye (``bench/everyday_queries.py``): contact sheets and the judged table.

Usage::

    contact_sheet(rows_of_thumbnails, row_labels, path)      # one row per query, positions 1-10 marked
    text = judged_table(json.load(everyday_json), json.load(judgments_json))
    scores = judged_scores(data, judged)       # ranking -> query -> P@10; paired_counts(scores): who wins where
    lenient = with_near_misses(judged, near)   # the near misses a lenient judge would accept, counted too
    title_census(queries, titles)              # how many titles name each query: a floor on what exists

The sheets are numbered by a seeded shuffle so the judge does not know which ranking a sheet shows;
the key (sheet -> ranking) is joined with the judgments only in :func:`judged_table`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import DataError

__all__ = ["check_judgments", "contact_sheet", "judged_scores", "judged_table", "paired_counts", "ranks_of", "score_table",
           "title_census", "with_near_misses"]


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


def check_judgments(data: dict[str, Any], judged: dict[str, Any], what: str = "judgments",
                    complete: bool = True) -> None:
    """Raise a DataError naming the sheet and query when ``judged`` (sheet -> query -> positions) is not what
    :func:`judged_scores` counts: a sheet the key does not hold, a query not in ``data``'s list, a query without an
    entry (when ``complete``; near misses list only some), or positions that are not distinct integers 1-10 (a typo
    would otherwise change P@10 silently, or count above 1)."""
    for sheet, per_query in judged.items():
        if not sheet.startswith("sheet-"):
            continue  # the file's notes (provenance, criterion, ...)
        if sheet not in data["key"]:
            raise DataError(f"{what}: {sheet} is not one of the key's sheets ({', '.join(data['key'])})")
        if not isinstance(per_query, dict):
            raise DataError(f"{what}: {sheet} is a {type(per_query).__name__}; expected query -> positions")
        unknown = [q for q in per_query if q not in data["queries"]]
        if unknown:
            raise DataError(f"{what}: {sheet} judges {unknown[0]!r}, which is not one of the {len(data['queries'])} "
                            "queries (a typo?)")
        for q in data["queries"] if complete else list(per_query):
            pos = per_query.get(q)
            if not isinstance(pos, list):
                raise DataError(f"{what}: {sheet} has no list for the query {q!r}; expected the positions (1-10) of "
                                "its relevant drawings, [] for none")
            if any(isinstance(x, bool) or not isinstance(x, int) or not 1 <= x <= 10 for x in pos) or len(set(pos)) < len(pos):
                raise DataError(f"{what}: {sheet} {q!r}: {pos}; expected distinct positions 1-10")


def judged_scores(data: dict[str, Any], judged: dict[str, Any]) -> dict[str, dict[str, float]]:
    """ranking -> query -> P@10 of the judged sheets (``data``: ``everyday.json``; ``judged``: sheet -> query ->
    positions 1-10 of the hits, checked by :func:`check_judgments`). Sheets without judgments are left out (and
    :func:`judged_table` names them)."""
    check_judgments(data, judged)
    return {name: {q: len(judged[sheet][q]) / 10 for q in data["queries"]}
            for sheet, name in data["key"].items() if sheet in judged}


def with_near_misses(judged: dict[str, Any], near: dict[str, Any]) -> dict[str, Any]:
    """The judgments with the near misses (same shape, sheet -> query -> positions) counted as hits too."""
    out = {}
    for sheet, per_query in judged.items():
        if not sheet.startswith("sheet-"):
            continue
        extra = near.get(sheet, {})
        out[sheet] = {q: sorted(set(pos) | set(extra.get(q, []))) for q, pos in per_query.items()}
    return out


def paired_counts(scores: dict[str, dict[str, float]]) -> list[tuple[str, str, int, int, int]]:
    """(ranking A, ranking B, queries where A scores higher, where B does, ties) for every pair, in order."""
    names = list(scores)
    return [(a, b, sum(scores[a][q] > scores[b][q] for q in scores[a]), sum(scores[a][q] < scores[b][q] for q in scores[a]),
             sum(scores[a][q] == scores[b][q] for q in scores[a])) for i, a in enumerate(names) for b in names[i + 1:]]


def title_census(queries: list[str], titles: list[str]) -> dict[str, dict[str, Any]]:
    """query -> how many ``titles`` name it: ``head`` (the query's last word, or it + s / es, as a word) and
    ``all_words`` (every word of the query but the article, each as a word, plurals as for ``head``), with
    ``titled`` the positions in ``titles`` of the ``all_words`` ones.

    A floor on how many relevant drawings the database holds (titles miss some; a teddy bear's title names a bear)."""
    import re

    words = [set(re.findall(r"[a-z]+", t.lower())) for t in titles]
    content_of = {q: [w for w in re.findall(r"[a-z]+", q.lower()) if w not in ("a", "an", "the")] for q in queries}
    empty = [q for q, c in content_of.items() if not c]
    if empty:
        raise DataError(f"query {empty[0]!r} has no word to look for in titles (only articles, digits or signs); "
                        "expected a query naming a thing")

    def named(word: str, ws: set[str]) -> bool:
        return bool({word, word + "s", word + "es"} & ws)

    out = {}
    for q in queries:
        content = content_of[q]
        titled = [i for i, ws in enumerate(words) if all(named(w, ws) for w in content)]
        out[q] = {"head": sum(named(content[-1], ws) for ws in words), "all_words": len(titled), "titled": titled}
    return out


def ranks_of(ranking: list[int], wanted: list[int]) -> list[int]:
    """The 1-based ranks in ``ranking`` (a full ranking of item rows, best first) of the rows ``wanted``, sorted."""
    rank = {int(r): k + 1 for k, r in enumerate(ranking)}
    return sorted(rank[int(w)] for w in wanted)


def score_table(scores: dict[str, dict[str, float]]) -> str:
    """Markdown: P@10 per query and ranking, the mean, its standard error over queries (sample std / sqrt n)
    and the number of queries at 0."""
    queries = list(next(iter(scores.values())))
    lines = ["| query | " + " | ".join(scores) + " |", "|---" * (1 + len(scores)) + "|"]
    lines += [f"| {q} | " + " | ".join(f"{t[q]:.1f}" for t in scores.values()) + " |" for q in queries]
    lines.append("| **mean P@10** | " + " | ".join(f"**{np.mean(list(t.values())):.2f}**" for t in scores.values()) + " |")
    lines.append("| standard error over queries | " + " | ".join(
        f"{np.std(list(t.values()), ddof=1) / np.sqrt(len(t)):.2f}" if len(t) > 1 else "n/a (1 query)"
        for t in scores.values()) + " |")
    lines.append("| queries with P@10 = 0 | " + " | ".join(str(sum(v == 0 for v in t.values())) for t in scores.values()) + " |")
    return "\n".join(lines) + "\n"


def judged_table(data: dict[str, Any], judged: dict[str, Any]) -> str:
    """The P@10 page of the judged sheets (:func:`score_table` with a heading and the key): ``data`` is
    ``everyday.json`` (queries, key sheet -> ranking, provenance, optionally the query file's ``judging``
    rule), ``judged`` the judgments (sheet -> query -> positions of the hits in the top 10)."""
    queries = data["queries"]
    unjudged = {s: n for s, n in data["key"].items() if s not in judged}
    lines = [f"# {len(queries)} everyday queries, top 10 judged by eye (blind: sheets numbered by a seeded shuffle)", "",
             f"A hit ({data.get('query_file', 'bench/everyday_queries.json')}, written before any result): "
             f"{data.get('judging') or 'the drawing shows the thing named.'}", "",
             score_table(judged_scores(data, judged)),
             *([f"Not judged, so not in the table: {', '.join(f'{s} ({n})' for s, n in unjudged.items())}.", ""]
               if unjudged else []),
             "Sheets: " + ", ".join(f"`{s}.png` = {n}" for s, n in data["key"].items()) +
             f"; provenance in `everyday.json` (commit {data['provenance']['commit'][:7]}, load "
             f"{data['provenance']['load_before']} -> {data['provenance']['load_after']})."]
    return "\n".join(lines) + "\n"
