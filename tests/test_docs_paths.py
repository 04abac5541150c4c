"""The docs name only files that exist, and never point outside the repository.

Every ``src/...``, ``docs/...``, ``bench/...``, ``tests/...`` and ``scripts/...`` path written in
README.md or docs/*.md must exist in the checkout, and every relative markdown link must resolve,
so that moving or deleting a file without updating its docs fails here. Patterns are checked as
patterns: ``{a,b}`` alternatives each, ``*`` as a glob that must match something, and a
``<placeholder>`` by the folder in front of it. URLs are skipped. A page that walks the reader
through creating a file declares it with ``<!-- module: path -->`` (docs/add-a-method.md); that
path, and the module it becomes, count as existing on that page. Dotted names
(``distilhash.eval.metrics.evaluate``) must name a module of ``src/distilhash`` followed, if at
all, by a name its source defines or imports.
"""

from __future__ import annotations

import glob
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: A repository path: one of the top folders, not preceded by a path or word character.
PATH = re.compile(r"(?<![\w./$~-])((?:src|docs|bench|tests|scripts)/[\w./{},*<>@+-]*)")
#: The target of a markdown link or image: ``[text](target)``.
LINK = re.compile(r"\]\(([^)\s]+)\)")
#: A dotted library name: ``distilhash.a.b[.c]``, not part of a longer path or word.
DOTTED = re.compile(r"(?<![\w./-])(distilhash(?:\.[A-Za-z_]\w*)+)")
#: A file the page tells the reader to create (the walkthrough's test writes it to a temporary place).
CREATED = re.compile(r"<!--\s*module:\s*(\S+)\s*-->")
#: Team notes that live outside the repository: never cited.
OUTSIDE = re.compile(r"shared/|METHODS\.md|PROTOCOL\.md|DESIGN\.md|/work/")


def _expand(pattern: str) -> list[str]:
    """``a.{json,md}`` -> ``[a.json, a.md]`` (one level of braces is enough for the docs)."""
    m = re.search(r"\{([^{}]*)\}", pattern)
    if not m:
        return [pattern]
    return [x for alt in m.group(1).split(",") for x in _expand(pattern[: m.start()] + alt + pattern[m.end():])]


def _exists(path: str) -> bool:
    if "<" in path:  # a placeholder: the folder in front of it must exist
        before = path.split("<", 1)[0]
        return (ROOT / before[: before.rfind("/") + 1]).exists()
    if "*" in path:
        return bool(glob.glob(str(ROOT / path)))
    return (ROOT / path).exists()


def _module_file(parts: list[str]) -> Path | None:
    """The source file of module ``distilhash.<parts>`` (a ``.py`` file or a package), or None."""
    base = ROOT / "src" / Path(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def created_paths(text: str) -> set[str]:
    """Paths a page declares it has the reader create (``<!-- module: path -->``)."""
    return set(CREATED.findall(text))


def _module_of(path: str) -> str:
    """``src/distilhash/methods/x.py`` -> ``distilhash.methods.x``."""
    return ".".join(Path(path).with_suffix("").parts[1:])


def dotted_name_exists(name: str, created: set[str] = frozenset()) -> bool:
    """``distilhash.a.b.c``: the longest module prefix exists and the rest starts with a name it defines."""
    if any(name == _module_of(c) or name.startswith(_module_of(c) + ".") for c in created):
        return True
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        source = _module_file(parts[:cut])
        if source is not None:
            rest = parts[cut:]
            return not rest or re.search(rf"\b{re.escape(rest[0])}\b", source.read_text()) is not None
    return False


def repo_paths(text: str) -> list[str]:
    """The repository paths mentioned in ``text``, trailing punctuation removed."""
    out = []
    for m in PATH.finditer(text):
        path = m.group(1).rstrip(".,;:")
        if path.endswith("/.") or not path.strip("/"):
            continue
        out.append(path)
    return out


def local_links(text: str) -> list[str]:
    """Markdown link targets that are files of the repository (no URL, no pure anchor)."""
    out = []
    for m in LINK.finditer(text):
        target = m.group(1).split("#", 1)[0]
        if target and not re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target):
            out.append(target)
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_in_the_docs_exists(page: Path) -> None:
    text = page.read_text()
    created = created_paths(text)
    missing = sorted({p for p in repo_paths(text) for q in _expand(p) if q not in created and not _exists(q)})
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_dotted_library_name_exists(page: Path) -> None:
    text = page.read_text()
    created = created_paths(text)
    missing = sorted({m.group(1) for m in DOTTED.finditer(text) if not dotted_name_exists(m.group(1), created)})
    assert not missing, f"{page.relative_to(ROOT)} names modules or objects that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = sorted({t for t in local_links(page.read_text()) if not (page.parent / t).exists()})
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_reference_outside_the_repository(page: Path) -> None:
    hits = [line.strip() for line in page.read_text().splitlines() if OUTSIDE.search(line)]
    assert not hits, f"{page.relative_to(ROOT)} points outside the repository: {hits}"


def test_the_path_finder_sees_what_it_should() -> None:
    text = ("see `src/distilhash/codes.py`, bench/results/lcdh.{json,md}. and "
            "[x](metrics.md#ties) [y](https://example.org/a.md) $DISTILHASH_HOME/src/no /usr/share/docs/x")
    assert repo_paths(text) == ["src/distilhash/codes.py", "bench/results/lcdh.{json,md}"]
    assert _expand("bench/results/lcdh.{json,md}") == ["bench/results/lcdh.json", "bench/results/lcdh.md"]
    assert local_links(text) == ["metrics.md"]
    assert not _exists("docs/no-such-page.md") and _exists("docs/<anything>.md")
    assert dotted_name_exists("distilhash.eval.metrics.evaluate") and dotted_name_exists("distilhash.codes")
    assert not dotted_name_exists("distilhash.eval.metrics.no_such_function")
    assert not dotted_name_exists("distilhash.no_such_module")
    made = created_paths("<!-- module: src/distilhash/methods/toy.py -->")
    assert made == {"src/distilhash/methods/toy.py"} and dotted_name_exists("distilhash.methods.toy.Toy", made)
    assert _exists("tests/test_<name>.py") and not _exists("no_such_folder/test_<name>.py")


def test_the_docs_index_lists_every_page() -> None:
    index = (ROOT / "docs" / "README.md").read_text()
    listed = set(local_links(index))
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"README.md"}
    assert sorted(pages - listed) == [], "docs/README.md does not list these pages"
