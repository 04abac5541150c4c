"""Every CLI option checked while the command line is parsed: ranges, finite numbers, usable paths.

:func:`install` walks the commands registered on the ``distilhash`` Typer app and gives each
numeric or path parameter a declared rule, before Typer builds the Click commands from them:

* integers: the range in :data:`INT_RANGES` (by option name), else 0 to 2**31-1 (no option of
  this CLI takes more; a 70-digit seed used to reach a C library and end in a traceback);
* floats: finite (``nan``/``inf`` are refused) and within :data:`FLOAT_RANGES`;
* text: no NUL character, at most 4,096 characters (255 for names of datasets and methods, which
  may become file names);
* paths: inputs must exist and be readable (a directory where :data:`DIR_INPUTS` says so, a file
  where :data:`FILE_INPUTS` says so); outputs (:data:`OUTPUTS`) must be creatable: the nearest
  existing ancestor is a directory this process can write into (checked by creating and removing
  a probe directory there, so ``/proc/x`` or a path under a file is refused before any work).

A wrong value is a usage error (exit code 2) naming the option and what was expected.
"""

from __future__ import annotations

import inspect
import math
import os
import tempfile
import typing
from pathlib import Path
from typing import Any, Callable

import typer

__all__ = ["install", "path_role", "INT_RANGES", "FLOAT_RANGES", "OUTPUTS", "FILE_OUTPUTS", "DIR_INPUTS", "FILE_INPUTS", "INT_MAX"]

INT_MAX = 2**31 - 1

#: option name -> (lowest, highest) accepted integer
INT_RANGES: dict[str, tuple[int, int]] = {
    "--port": (1, 65535),
    "--threads": (1, 256),
    "--workers": (1, 256),
    "--search-workers": (1, 64),
    "--writer-nice": (0, 19),
    "--jobs": (1, 256),
    "--k": (1, 10_000),
    "--bits": (1, 4096),
    "--seed": (0, 2**32 - 1),
    "--text-cache": (0, 10_000_000),
    "--search-batch": (1, 4096),
    "--batch-size": (1, 1 << 20),
    "--shards": (1, 4096),
    "--top-n": (1, INT_MAX),
    "--chunk-size": (1, INT_MAX),
    "--part-size": (1, INT_MAX),
    "--queries": (1, INT_MAX),
    "--train": (1, INT_MAX),
    "--retrieval": (1, INT_MAX),
    "--val": (0, INT_MAX),
    "--tune-epochs": (0, 1000),
}

#: option name -> (lowest, highest, lowest excluded) accepted float
FLOAT_RANGES: dict[str, tuple[float, float, bool]] = {
    "--max-upload-mb": (0.0, 4096.0, True),
    "--light-max-oov": (0.0, 1.0, False),
    "--false-alarm": (0.0, 1.0, True),
}

#: (command words, parameter name) of paths that are written; ("*", name) for every command
OUTPUTS = {("*", "out"), ("*", "results"), (("index", "build"), "index_dir"), (("teacher", "extract"), "out"),
           (("demo", "examples"), "json_out"), (("demo", "open-vocab"), "json_out"), (("demo", "teacher"), "json_out")}
#: outputs that are files (every other output is a directory: an existing file there is refused)
FILE_OUTPUTS = {(("encode",), "out"), (("demo", "examples"), "json_out"), (("demo", "open-vocab"), "json_out"),
                (("demo", "teacher"), "json_out")}
#: parameter names of inputs that must be directories
DIR_INPUTS = {"model", "model_dir", "index_dir", "index_dirs", "light_dir", "features", "image_root"}
#: parameter names of inputs that must be files
FILE_INPUTS = {"codes", "metadata", "config", "image"}


def _int_rule(lo: int, hi: int) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is not None and not lo <= v <= hi:
                raise typer.BadParameter(f"expected an integer from {lo:,} to {hi:,}, got {v}")
        return value

    return check


def _float_rule(lo: float, hi: float, open_low: bool) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is None:
            return value
        if not math.isfinite(value):
            raise typer.BadParameter(f"expected a finite number, got {value}")
        if value < lo or value > hi or (open_low and value == lo):
            low = f"greater than {lo:g}" if open_low else f"at least {lo:g}"
            raise typer.BadParameter(f"expected a number {low} and at most {hi:g}, got {value:g}")
        return value

    return check


def _text_path(value: Any) -> str:
    text = str(value)
    if not text or "\x00" in text:
        raise typer.BadParameter("expected a path (empty or with a NUL character)")
    return text


def _input_rule(kind: str) -> Callable[[Any], Any]:
    def check_one(value: Any) -> None:
        text = _text_path(value)
        p = Path(text)
        try:
            exists = p.exists()
        except OSError as exc:
            raise typer.BadParameter(f"{text}: cannot be read ({exc.strerror or 'error'})") from None
        if not exists:
            raise typer.BadParameter(f"{text}: no such {'directory' if kind == 'dir' else 'file' if kind == 'file' else 'file or directory'}")
        if kind == "dir" and not p.is_dir():
            raise typer.BadParameter(f"{text}: expected a directory, found a file")
        if kind == "file" and not p.is_file():
            raise typer.BadParameter(f"{text}: expected a file, found a directory or device")
        if not os.access(p, os.R_OK | (os.X_OK if p.is_dir() else 0)):
            raise typer.BadParameter(f"{text}: not readable by this user")
        if p.is_file():
            try:  # a file the kernel refuses to read (/proc/self/mem: EIO) passes every test above
                with open(p, "rb") as f:
                    f.read(1)
            except OSError as exc:
                raise typer.BadParameter(f"{text}: cannot be read ({exc.strerror or 'error'})") from None

    def check(value: Any) -> Any:
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is not None:
                check_one(v)
        return value

    return check


def _output_rule(kind: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is None:
            return value
        text = _text_path(value)
        p = Path(text).absolute()
        if p.exists() and not p.is_dir() and not p.is_file():
            raise typer.BadParameter(f"{text}: exists and is neither a file nor a directory")
        if kind == "dir" and p.exists() and not p.is_dir():
            raise typer.BadParameter(f"{text}: expected a directory to write into, found a file")
        if kind == "file" and p.is_dir():
            raise typer.BadParameter(f"{text}: expected a file to write, found a directory")
        parent = p if p.is_dir() else p.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise typer.BadParameter(f"{text}: cannot be created: {parent} is a file, not a directory")
        try:  # os.access says yes for root on read-only or virtual file systems (/proc); a probe does not lie
            os.rmdir(tempfile.mkdtemp(prefix=".distilhash-probe-", dir=parent))
        except OSError as exc:
            raise typer.BadParameter(f"{text}: cannot be created in {parent} ({exc.strerror or 'not writable'})") from None
        return value

    return check


def path_role(words: tuple[str, ...], name: str) -> tuple[str, str]:
    """(``input`` | ``output``, ``dir`` | ``file`` | ``any``) of the path parameter ``name`` of command ``words``."""
    key = words[-2:] if len(words) > 1 else words
    if ("*", name) in OUTPUTS or (key, name) in OUTPUTS:
        return "output", "file" if (key, name) in FILE_OUTPUTS else "dir"
    return "input", "dir" if name in DIR_INPUTS else "file" if name in FILE_INPUTS else "any"


def _chain(first: Callable[[Any], Any] | None, then: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if first is None:
        return then
    original = first

    def both(value: Any) -> Any:  # the command's own callback first (e.g. an index name -> its path), then the rule
        return then(original(value))

    return both


#: text parameters that name a file-system entry (a dataset name may be a directory): at most 255 characters
NAME_PARAMS = {"dataset", "name", "method"}


def _text_rule(max_chars: int) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is None:
                continue
            if "\x00" in v:
                raise typer.BadParameter("contains a NUL character")
            if len(v) > max_chars:
                raise typer.BadParameter(f"{len(v):,} characters; the limit is {max_chars:,}")
        return value

    return check


def _type_text(annotation: Any) -> str:
    """``"int"``, ``"list[str]"``, ``"Path"``, ... of an annotation (a string under postponed evaluation, or a type)."""
    if isinstance(annotation, str):
        text = annotation
    else:
        text = str(annotation) if typing.get_origin(annotation) else getattr(annotation, "__name__", str(annotation))
    text = text.replace("typing.", "").replace("pathlib.", "").removesuffix(" | None")
    return text[len("Optional["):-1] if text.startswith("Optional[") else text


def _rule(words: tuple[str, ...], name: str, flag: str, annotation: Any) -> Callable[[Any], Any] | None:
    text = _type_text(annotation)
    if text in ("str", "list[str]"):
        return _text_rule(255 if name in NAME_PARAMS else 4096)
    if "Path" in text:
        role, kind = path_role(words, name)
        return _output_rule(kind) if role == "output" else _input_rule(kind)
    if "float" in text:
        return _float_rule(*FLOAT_RANGES.get(flag, (-math.inf, math.inf, False)))
    if "int" in text and "bool" not in text:
        return _int_rule(*INT_RANGES.get(flag, (0, INT_MAX)))
    return None


def _commands(app: typer.Typer, words: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Callable[..., Any]]]:
    out = [((*words, c.name or c.callback.__name__.replace("_", "-")), c.callback) for c in app.registered_commands if c.callback]
    for g in app.registered_groups:
        out += _commands(g.typer_instance, (*words, g.name or ""))
    return out


def install(app: typer.Typer) -> int:
    """Give every numeric and path parameter of ``app``'s commands its rule (see module docstring); how many."""
    n = 0
    for words, fn in _commands(app):
        for name, param in inspect.signature(fn).parameters.items():
            info = param.default
            if not isinstance(info, (typer.models.OptionInfo, typer.models.ArgumentInfo)) or getattr(info, "_distilhash_checked", False):
                continue
            decls = [d for d in (info.param_decls or ()) if d.startswith("--")] if isinstance(info, typer.models.OptionInfo) else []
            flag = max(decls, key=len) if decls else f"--{name.replace('_', '-')}"
            flag = next((d for d in decls if d in INT_RANGES or d in FLOAT_RANGES), flag)
            rule = _rule(words, name, flag, param.annotation)
            if rule is None:
                continue
            info.callback = _chain(info.callback, rule)
            info._distilhash_checked = True  # type: ignore[attr-defined]
            n += 1
    return n
