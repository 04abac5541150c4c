"""Every figure the README states has a committed result file behind it, where a program can tell.

What is checked, in the README's "Results" section and the demo's part of "Two commands":

- **Table rows** that state figures (numbers with two or more decimals: mAP, ns per code, ...) must
  cite a result path under ``bench/results/`` that exists: in the row itself (a "source" column,
  "same" meaning the row above), in the paragraph that introduces the table, or in a "Sources:"
  paragraph right after it. Every such figure of the row must appear in the cited files (their
  ``.md`` and ``.json``; a folder means every file in it): some number there must round to it.
- **Paragraphs and list items** that state such figures must cite an existing result path. Their
  figures are not matched one by one: prose mixes measured values with differences, ratios and
  ranges computed from them, which no file holds.

What is not checked: integer figures (counts, "16 min 50 s", QPS), figures with one decimal, and
whether a figure that rounds to a number in the file is the right cell of it (a large JSON can hold
a near number by chance). Blocks known to have no result file yet are listed in
:data:`KNOWN_UNBACKED`, each with its reason; the list must shrink, never hold a block that is
backed now or that no longer exists.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: A figure: a number with at least two decimals, not part of a version (``2.13.0``) or a longer token.
FIGURE = re.compile(r"(?<![\w.=])(\d+\.\d{2,})(?![\w.]*\d)")
#: A cited result: ``bench/results/...`` in backticks, or a short ``folder/file.ext`` after one.
FULL_PATH = re.compile(r"`(bench/results/[^`\s]+)`")  # a folder or file under it, not the root
SHORT_PATH = re.compile(r"`([a-z0-9_]+/[\w.*{}-]+\.(?:md|json))`")
#: Any stated figure with decimals (``0.9``, ``5.2x``) or a duration (``656 s``, ``16 min``):
#: "this block states figures". Estimates ("< 20 min", "~1 min") are not figures.
ANY_FIGURE = re.compile(r"(?<![\w.=])\d+\.\d+(?![\w.]*\d)|(?<![<~] )(?<![<~\d])\b\d+ (?:min|s)\b")
NUMBER = re.compile(r"-?\d+\.\d+(?:[eE]-?\d+)?")

#: Blocks with figures and no result file behind them yet: (a phrase of the block, the reason).
#: The EmojiScenes LCDH row's means (n=2) are in lcdh/lcdh_emoji_seeds.json (``bench/lcdh.py --seeds-summary``).
KNOWN_UNBACKED: dict[str, str] = {
    "before the gather: t2i 0.012 lower":
        "a difference between two runs of distributed_train, computed, not stored",
}


@dataclass(frozen=True)
class Block:
    """A paragraph, a list item or a table (with the paragraphs around it) of the README."""

    kind: str  # "para", "table" or "heading"
    lines: tuple[str, ...]
    line_no: int
    intro: str = ""  # table: the paragraph before it
    sources: str = ""  # table: a "Sources:" paragraph after it


def blocks(text: str) -> list[Block]:
    """The README cut into paragraphs, list items and tables (headings and blank lines cut)."""
    raw: list[tuple[str, list[str], int]] = []
    kind, cur, start = "", [], 0
    for no, line in enumerate(text.splitlines(), start=1):
        table = line.startswith("|")
        new_item = line.startswith("- ") or re.match(r"\d+\. ", line)
        if not line.strip() or line.startswith("#") or line.startswith("```") or \
                (cur and (table != (kind == "table") or (not table and new_item))):
            if cur:
                raw.append((kind, cur, start))
            kind, cur = "", []
            if line.startswith("#"):
                raw.append(("heading", [line], no))
            if not line.strip() or line.startswith("#") or line.startswith("```"):
                continue
        if not cur:
            kind, start = ("table" if table else "para"), no
        cur.append(line)
    if cur:
        raw.append((kind, cur, start))
    out = []
    for i, (kind, lines, no) in enumerate(raw):
        if kind == "table":
            before = raw[i - 1] if i > 0 and raw[i - 1][0] == "para" and raw[i - 1][2] + len(raw[i - 1][1]) >= no - 1 else None
            after = raw[i + 1] if i + 1 < len(raw) and raw[i + 1][1][0].startswith("Sources") else None
            out.append(Block(kind, tuple(lines), no, " ".join(before[1]) if before else "",
                             " ".join(after[1]) if after else ""))
        else:
            out.append(Block(kind, tuple(lines), no))
    return out


def checked_part(text: str) -> str:
    """The "Two commands" section's demo part and the "Results" section (other lines blanked)."""
    keep = []
    section = ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        keep.append(line if section in ("Two commands", "Results") else "")
    return "\n".join(keep)


def figures(text: str) -> list[str]:
    return FIGURE.findall(text)


def cited_paths(text: str) -> list[str]:
    """``bench/results/...`` paths in ``text``; short ``dir/file.md`` ones resolved under bench/results/."""
    full = FULL_PATH.findall(text)
    short = [f"bench/results/{p}" for p in SHORT_PATH.findall(text) if not p.startswith(("bench/", "docs/", "src/"))]
    return full + [p for p in short if p not in full]


def _expand(pattern: str) -> list[str]:
    m = re.search(r"\{([^{}]*)\}", pattern)
    if not m:
        return [pattern]
    return [x for alt in m.group(1).split(",") for x in _expand(pattern[: m.start()] + alt + pattern[m.end():])]


def result_files(path: str, root: Path = ROOT) -> list[Path]:
    """The .md / .json files a cited path stands for (a file brings its .md/.json sibling along)."""
    out: list[Path] = []
    for pattern in _expand(path):
        for hit in map(Path, glob.glob(str(root / pattern))):
            if hit.is_dir():
                out += sorted(p for p in hit.rglob("*") if p.suffix in (".md", ".json"))
            elif hit.suffix in (".md", ".json", ".png"):
                out += [p for p in (hit.with_suffix(".md"), hit.with_suffix(".json")) if p.is_file()]
    return out


@lru_cache(maxsize=None)
def _numbers(path: Path) -> tuple[float, ...]:
    return tuple(float(n) for n in NUMBER.findall(path.read_text(errors="replace")))


def found_in(figure: str, files: list[Path]) -> bool:
    """Some number in ``files`` rounds to ``figure`` at its number of decimals."""
    decimals = len(figure.split(".")[1])
    value, half = float(figure), 0.5 * 10 ** -decimals + 1e-9
    return any(abs(n - value) <= half for f in files for n in _numbers(f))


def row_sources(block: Block) -> list[tuple[str, list[str]]]:
    """(row, cited paths) for every data row of a table; "same" in a row means the row above's."""
    rows, previous = [], []
    for row in block.lines[2:]:
        own = cited_paths(row)
        if not own and re.search(r"\|\s*same\s*\|?\s*$", row):
            own = previous
        previous = own or previous
        rows.append((row, own + [p for p in cited_paths(block.intro + " " + block.sources) if p not in own]))
    return rows


def problems(text: str, root: Path = ROOT) -> list[tuple[str, str]]:
    """Unbacked figures of ``text`` (a README whose result files are under ``root``): (block text, why)."""
    out: list[tuple[str, str]] = []
    table_paths: list[str] = []  # the sources of the last table of the current subsection
    for block in blocks(checked_part(text)):
        if block.kind == "table":
            table_paths = cited_paths(block.intro + " " + block.sources)
            for row, paths in row_sources(block):
                if not ANY_FIGURE.search(row):
                    continue
                where = block.intro + " " + row
                files = [f for p in paths for f in result_files(p, root)]
                if not files:
                    out.append((where, f"line {block.line_no}: table row cites no existing result file: {row[:70]!r}"))
                elif absent := [f for f in figures(row) if not found_in(f, files)]:
                    out.append((where, f"line {block.line_no}: {absent} of {row[:50]!r} appear in none of {paths}"))
            continue
        if block.kind == "heading":
            table_paths = []
            continue
        body = " ".join(block.lines)
        if not ANY_FIGURE.search(body):
            continue
        files = [f for p in (cited_paths(body) or table_paths) for f in result_files(p, root)]
        if not files:
            out.append((body, f"line {block.line_no}: paragraph states figures and cites no existing result file "
                              f"(nor does a table above it): {body[:70]!r}"))
        elif figures(body) and not any(found_in(f, files) for f in figures(body)):
            out.append((body, f"line {block.line_no}: none of {figures(body)[:6]} appears in its result files"))
    return out


def test_every_readme_figure_has_a_result_file_behind_it():
    unexpected = [why for where, why in problems(README.read_text()) if not any(k in where for k in KNOWN_UNBACKED)]
    assert unexpected == [], "\n".join(unexpected)


def test_the_known_unbacked_list_is_current():
    found = problems(README.read_text())
    stale = [k for k in KNOWN_UNBACKED if not any(k in where for where, _ in found)]
    assert stale == [], f"remove from KNOWN_UNBACKED (backed now, or gone from the README): {stale}"


def test_the_checker_catches_what_it_should(tmp_path):
    (tmp_path / "bench/results/t").mkdir(parents=True)
    (tmp_path / "bench/results/t/r.md").write_text("| m | 0.4987 |\n")
    head = "## Results\n\nmAP of the methods (`bench/results/t/r.md`):\n\n| m | 64 bits |\n|---|---|\n"
    assert problems(head + "| dcmq | 0.499 |\n", tmp_path) == []
    assert problems(head + "| dcmq | 0.512 |\n", tmp_path) != []  # a stale figure
    assert problems(head.replace(" (`bench/results/t/r.md`)", "") + "| dcmq | 0.499 |\n", tmp_path) != []  # no source
    assert problems("## Results\n\nIt scores 0.499 (`bench/results/t/r.md`).\n", tmp_path) == []
    assert problems("## Results\n\nIt scores 0.499 (`bench/results/t/gone.md`).\n", tmp_path) != []
    assert problems("## Results\n\nIt scores 0.499 (see `bench/results/`).\n", tmp_path) != []  # the root is no source
    assert problems("## Datasets\n\nIt scores 0.499.\n", tmp_path) == []  # outside the checked sections
    assert figures("torch==2.13.0, mAP 0.421, 5.2x, 0.40 ns, 1.5.0") == ["0.421", "0.40"]
    assert problems("## Results\n\nThe demo took 16 min 50 s.\n", tmp_path) != []  # a duration is a figure
    assert problems("## Results\n\nA suite (< 20 min, ~1 min each).\n", tmp_path) == []  # estimates are not
    same = head + "| a | 0.499 | `bench/results/t/r.md` |\n| b | 0.499 | same |\n"
    assert problems(same.replace(" (`bench/results/t/r.md`)", ""), tmp_path) == []
