"""The commands the docs show work in a new shell: the environment is activated before the first one.

`make` builds `.venv` but cannot change the user's shell, so `distilhash` is not on the PATH of a
new shell. The convention of every page (README.md, docs/*.md, bench/README.md): before its first
code block that runs `distilhash` or `python` (or Python code), the page shows
``source .venv/bin/activate``, and an ``export DISTILHASH_HOME=...`` line comes before the first
`distilhash` command of a block. A page whose commands are only inline (tables) carries the same
two lines once, near its top.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]

ACTIVATE = "source .venv/bin/activate"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
#: A shell line that needs the project's environment (a comment or `make ...` does not).
NEEDS_ENV = re.compile(r"^\s*(?:\$ )?(?:[A-Z_]+=\S+ )*(distilhash|python3?)\b", re.M)
DISTILHASH_CMD = re.compile(r"^\s*(?:\$ )?(?:[A-Z_]+=\S+ )*distilhash\b", re.M)
#: Inline code that is a command to type (a python command, or distilhash with an option), not a name.
INLINE_CMD = re.compile(r"`(?:[A-Z_]+=\S+ )*(?:python3? [^`]+|distilhash [a-z][^`]* --[^`]*)`")
#: A python block right under an HTML comment (``<!-- module: path -->``, ``<!-- registry line -->``)
#: is the text of a file the reader writes, not code to run.
FILE_TEXT = re.compile(r"^<!--.*-->$")
HOME_SET = re.compile(r"export [^\n]*DISTILHASH_HOME=|DISTILHASH_HOME=\S+ distilhash")


def first_command_block(text: str) -> re.Match | None:
    """The first fenced block that runs distilhash or python (shell), or is Python code."""
    for m in FENCE.finditer(text):
        lang, body = m.group(1), m.group(2)
        if lang == "python" and FILE_TEXT.search(text[: m.start()].rstrip().rsplit("\n", 1)[-1]):
            continue
        if lang == "python" or (lang in ("bash", "sh", "console", "") and NEEDS_ENV.search(body)):
            return m
    return None


def problems(text: str) -> list[str]:
    """What keeps the page's commands from working in a new shell (empty when nothing does)."""
    out = []
    block = first_command_block(text)
    if block is not None:
        cmd = NEEDS_ENV.search(block.group(2))
        head = block.group(2)[: cmd.start()] if cmd else block.group(2)
        if ACTIVATE not in text[: block.start()] + head:
            out.append(f"no `{ACTIVATE}` before the first command block (line {text[: block.start()].count(chr(10)) + 1})")
        first_dh = next((m for m in FENCE.finditer(text) if DISTILHASH_CMD.search(m.group(2))), None)
        if first_dh is not None:
            upto = text[: first_dh.start()] + first_dh.group(2)[: DISTILHASH_CMD.search(first_dh.group(2)).end()]
            if not HOME_SET.search(upto):
                out.append("no `export DISTILHASH_HOME=...` before the first distilhash command")
    elif INLINE_CMD.search(text) and ACTIVATE not in text:
        out.append(f"inline commands but no `{ACTIVATE}` on the page")
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_commands_work_in_a_new_shell(page: Path) -> None:
    assert problems(page.read_text()) == []


def test_the_check_sees_what_it_should() -> None:
    bare = "Intro `distilhash serve` puts a page up.\n\n```bash\ndistilhash data prepare x\n```\n"
    assert len(problems(bare)) == 2
    good = ("```bash\nmake demo\n```\n\n```bash\nsource .venv/bin/activate\nexport DISTILHASH_HOME=$PWD/data\n"
            "distilhash data prepare x\n```\n")
    assert problems(good) == []
    late = "```bash\ndistilhash eval m\nsource .venv/bin/activate\n```\n"
    assert any("source" in p for p in problems(late))
    python_first = "```python\nimport distilhash\n```\n"
    assert problems(python_first) != []
    assert problems("<!-- module: src/x.py -->\n" + python_first) == []
    inline = "| script | `python bench/dcmq.py --bits 64` |\n"
    assert problems(inline) != [] and problems(f"{ACTIVATE}\n" + inline) == []
    assert problems("`make test` runs the suite; `distilhash serve` serves; `distilhash train NAME`.\n") == []
    assert problems("run `distilhash bench quick --dry-run` first\n") != []
