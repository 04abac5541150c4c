"""Wrong values for every option of the ``distilhash`` command, generated from the command tree.

:func:`cases` walks the Click tree Typer builds (every group, command and option, nothing
hand-picked), reads each option's declared Python type from the command's signature, and derives
wrong values from it (numbers: text, fractions, non-finite, out of any sane range; paths: missing,
unreadable, NUL, a file where a directory is expected; text: empty, NUL, very long, unknown
names; ``KEY=VALUE`` lists: missing ``=``, huge and non-finite numbers). Required positionals get
placeholders that point nowhere, so no command finds data to work on.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: wrong values per declared type ("{tmp}" is replaced by a scratch directory)
WRONG: dict[str, list[str]] = {
    "int": ["x", "1.5", "-1", "0", str(2**70), "-" + str(2**70), "nan", ""],
    "float": ["nan", "inf", "-inf", "x", "-1", "1e400", "0", ""],
    # paths by role (distilhash.cli.checks.path_role): what cannot be read, or cannot be written
    "Path:input": ["/proc/x/y", "/nonexistent-dh/a/b", "/dev/null/x", "{tmp}/file.txt/sub", "a\x00b", "/proc/self/mem"],
    "Path:input:dir": ["{tmp}/file.txt"],
    "Path:input:file": ["{tmp}"],
    "Path:output": ["/proc/x/y", "/dev/null/x", "{tmp}/file.txt/sub", "a\x00b", "/proc/self/mem"],
    "Path:output:dir": ["{tmp}/file.txt"],
    "Path:output:file": ["{tmp}"],
    "str": ["", "bogus-value", "x\x00y", "x" * 5000, "../../etc/passwd", "-"],
    "list[str]": ["nokey", "=1", "seed=" + str(2**70), "nprobe=nan", "bits=-1", "epochs=1e999", "a.b.c=", "x=\x00"],
    "list[int]": ["0", "-1", "x", str(2**70)],
}

#: placeholder per type for required positional arguments
PLACEHOLDER = {"int": "1", "float": "1", "Path": "{tmp}/missing", "str": "nothing-here", "list[str]": "nothing-here",
               "list[Path]": "{tmp}/missing"}

#: wrong values every option of the type must refuse while parsing (exit code 2)
PARSE_TIME = {"int": {"x", "1.5", str(2**70), "-" + str(2**70), "nan", ""}, "float": {"nan", "inf", "-inf", "x", "1e400", ""},
              "Path": {"a\x00b", "/proc/x/y", "/dev/null/x", "{tmp}/file.txt/sub", "/nonexistent-dh/a/b", "{tmp}/file.txt", "{tmp}",
                       "/proc/self/mem"},
              "list[int]": {"x", str(2**70)}}
PARSE_TIME["list[Path]"] = PARSE_TIME["Path"]
PARSE_TIME["str"] = {"x\x00y", "x" * 5000}
# ("" is "not given" to Typer, so it is not a wrong value)


@dataclass(frozen=True)
class Case:
    """One invocation: the words of the command, the option and the wrong value."""

    words: tuple[str, ...]
    option: str
    kind: str
    value: str
    positionals: tuple[str, ...]

    def argv(self, tmp: Path) -> list[str]:
        def fill(s: str) -> str:
            return s.replace("{tmp}", str(tmp))

        return [*self.words, *(fill(p) for p in self.positionals), self.option, fill(self.value)]

    @property
    def must_fail_parsing(self) -> bool:
        return self.value in PARSE_TIME.get(self.kind, set())


def _kind(annotation: Any) -> str:
    if typing.get_origin(annotation) is list:
        (arg,) = typing.get_args(annotation)
        return f"list[{getattr(arg, '__name__', str(arg))}]"
    if typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    return getattr(annotation, "__name__", str(annotation))


def _wrong(words: tuple[str, ...], name: str, kind: str) -> list[str]:
    """The wrong values of one parameter: by type, and for paths by role (input/output, file/dir)."""
    if kind not in ("Path", "list[Path]"):
        return WRONG.get(kind, [])
    from distilhash.cli.checks import path_role

    role, what = path_role(words, name)
    values = WRONG[f"Path:{role}"] + WRONG.get(f"Path:{role}:{what}", [])
    return values if kind == "Path" else values[:4]


def commands(app: Any) -> list[tuple[tuple[str, ...], Any]]:
    """(words, click command) of every leaf command of the Typer ``app``."""
    import typer

    out: list[tuple[tuple[str, ...], Any]] = []

    def walk(cmd: Any, words: tuple[str, ...]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in sorted(subs.items()):
                walk(sub, (*words, name))
        else:
            out.append((words, cmd))

    walk(typer.main.get_command(app), ())
    return out


def cases(app: Any) -> list[Case]:
    """Every (command, option, wrong value) the tree gives, in a stable order."""
    out: list[Case] = []
    for words, cmd in commands(app):
        fn = inspect.unwrap(cmd.callback)
        hints = typing.get_type_hints(fn)
        positionals: list[str] = []
        options: list[tuple[str, str, str]] = []
        required: list[tuple[str, str]] = []
        for p in cmd.params:
            if p.name not in hints or getattr(p, "is_flag", False) or p.name == "help":
                continue
            kind = _kind(hints[p.name])
            if not p.opts or not p.opts[0].startswith("-"):  # a positional argument
                if p.required:
                    positionals.append(PLACEHOLDER.get(kind, "x"))
                continue
            options.append((max(p.opts, key=len), kind, p.name))
            if p.required:
                required.append((max(p.opts, key=len), PLACEHOLDER.get(kind, "x")))
        for option, kind, name in options:
            others = tuple(w for o, v in required if o != option for w in (o, v))
            for value in _wrong(words, name, kind):
                out.append(Case(words, option, kind, value, tuple(positionals) + others))
    return out


def run_in_subprocess(case: Case, tmp: Path, timeout: float = 120.0) -> tuple[int, str]:
    """(exit code, stderr + stdout) of the real ``distilhash`` command in a child process (-9: timed out)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "DISTILHASH_HOME": str(tmp / "home"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    argv = [a.replace("\x00", "") for a in case.argv(tmp)]  # NUL cannot travel in argv; run in-process for those
    try:
        done = subprocess.run([sys.executable, "-m", "distilhash.cli.main", *argv], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=tmp)
    except subprocess.TimeoutExpired:
        return -9, "timed out"
    return done.returncode, done.stderr + done.stdout
