"""JSON in and out of the service: one encoder for every answer, checks on metadata before it
is stored, and a repair pass so an item stored earlier with unencodable metadata is still served.

The answers are encoded with orjson when installed (integers must fit in 64 bits, nesting is
limited to 254 levels, keys must be strings); metadata accepted by :func:`check_metadata` is
guaranteed to pass both that encoder and the standard one the index stores it with.
"""

from __future__ import annotations

import json
import math
from typing import Any

from distilhash.serve.config import ServiceError

__all__ = ["dumps", "check_metadata", "public_metadata", "safe_copy", "repair_answer", "INT_RANGE"]

#: integers an answer can carry (orjson's range: signed 64-bit to unsigned 64-bit)
INT_RANGE = (-(2**63), 2**64 - 1)

try:  # orjson: ~5-10x faster JSON encoding than the standard library
    import orjson

    def dumps(obj: Any) -> bytes:
        """Compact JSON bytes (numpy scalars and arrays allowed)."""
        return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)

except ImportError:  # pragma: no cover - orjson is optional

    def dumps(obj: Any) -> bytes:
        """Compact JSON bytes (standard library encoder)."""
        return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _walk_problem(value: Any, max_depth: int) -> str | None:
    """The first reason ``value`` cannot be stored and served, naming where it is (``metadata.a[2]``)."""
    stack: list[tuple[Any, str, int]] = [(value, "metadata", 1)]
    while stack:
        v, where, depth = stack.pop()
        if isinstance(v, dict):
            if depth > max_depth:
                return f"{where}: nested {depth} levels deep; the limit is {max_depth}"
            for k, x in v.items():
                if not isinstance(k, str):
                    return f"{where}: keys must be strings"
                stack.append((x, f"{where}.{k}" if k.isidentifier() else f"{where}[{json.dumps(k)}]", depth + 1))
        elif isinstance(v, list):
            if depth > max_depth:
                return f"{where}: nested {depth} levels deep; the limit is {max_depth}"
            stack.extend((x, f"{where}[{i}]", depth + 1) for i, x in enumerate(v))
        elif isinstance(v, bool) or v is None or isinstance(v, str):
            continue
        elif isinstance(v, int):
            if not INT_RANGE[0] <= v <= INT_RANGE[1]:
                return f"{where}: the integer has {len(str(abs(v)))} digits; integers must fit in 64 bits (send big numbers as strings)"
        elif isinstance(v, float):
            if not math.isfinite(v):
                return f"{where}: {v} is not a JSON number"
        else:
            return f"{where}: a {type(v).__name__} value is not JSON"
    return None


def check_metadata(raw: str | dict[str, Any] | None, max_bytes: int = 64 << 10, max_depth: int = 32) -> dict[str, Any]:
    """Parse and check an item's metadata (a JSON object): the dict to store, or ServiceError 400.

    Refused: not JSON, not an object, NaN/Infinity, integers beyond 64 bits, nesting deeper than
    ``max_depth``, more than ``max_bytes`` as compact JSON. The result round-trips through
    :func:`dumps` (what the answers use) and the standard encoder (what the index stores).
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, str):
        if len(raw) > 4 * max_bytes:
            raise ServiceError(400, f"metadata has {len(raw):,} characters; the limit is {max_bytes:,} bytes of JSON")
        try:
            value = json.loads(raw, parse_constant=_no_constants)
        except RecursionError:
            raise ServiceError(400, f"metadata: nested too deeply; the limit is {max_depth} levels") from None
        except json.JSONDecodeError as exc:  # the decoder's words, without its Python-style quotes
            what = exc.msg.replace("','", "a comma").replace("':'", "a colon").replace("'", "")
            raise ServiceError(400, f"metadata is not valid JSON: {what} at line {exc.lineno} column {exc.colno}") from None
        except ValueError as exc:
            raise ServiceError(400, f"metadata is not valid JSON: {exc}") from None
    else:
        value = raw
    if not isinstance(value, dict):
        raise ServiceError(400, f"metadata must be a JSON object ({{\"key\": value, ...}}), got a JSON {_json_kind(value)}")
    problem = _walk_problem(value, max_depth)
    if problem is not None:
        raise ServiceError(400, f"metadata cannot be stored: {problem}")
    try:
        size = len(dumps(value))
        json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):  # the walk above should have caught it
        raise ServiceError(400, "metadata cannot be encoded as JSON by this service") from None
    if size > max_bytes:
        raise ServiceError(400, f"metadata has {size:,} bytes as JSON; the limit is {max_bytes:,}")
    return value


def public_metadata(md: dict[str, Any]) -> dict[str, Any]:
    """An item's stored metadata as sent to clients: the server-side image file (``"image"``, an absolute path
    ``index build`` records for file-backed datasets) reduced to its file name, so answers do not reveal the
    server's directory layout; everything else unchanged (thumbnails are found by dataset and row, not by path)."""
    image = md.get("image")
    if isinstance(image, str) and (image.startswith("/") or (len(image) > 2 and image[1] == ":" and image[2] in "\\/")):
        return {**md, "image": image.replace("\\", "/").rsplit("/", 1)[-1]}
    return md


def _json_kind(value: Any) -> str:
    kinds = {list: "array", str: "string", bool: "boolean", type(None): "null", int: "number", float: "number"}
    return kinds.get(type(value), type(value).__name__)


def safe_copy(value: Any, max_depth: int = 64, _depth: int = 0) -> tuple[Any, bool]:
    """(a copy every JSON encoder takes, whether anything had to change).

    Integers beyond 64 bits become strings, non-finite floats null, non-string keys strings,
    containers nested deeper than ``max_depth`` the string ``"(nested too deeply to show)"``.
    """
    if isinstance(value, dict):
        if _depth >= max_depth:
            return "(nested too deeply to show)", True
        out, changed = {}, False
        for k, v in value.items():
            v2, c = safe_copy(v, max_depth, _depth + 1)
            out[k if isinstance(k, str) else str(k)] = v2
            changed |= c or not isinstance(k, str)
        return out, changed
    if isinstance(value, (list, tuple)):
        if _depth >= max_depth:
            return "(nested too deeply to show)", True
        pairs = [safe_copy(v, max_depth, _depth + 1) for v in value]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value, False
    if isinstance(value, int):
        return (value, False) if INT_RANGE[0] <= value <= INT_RANGE[1] else (str(value), True)
    if isinstance(value, float):
        return (value, False) if math.isfinite(value) else (None, True)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return safe_copy(value.tolist(), max_depth, _depth)
    return str(value), True


METADATA_NOTE = ("this item's stored metadata cannot be encoded as JSON as it is (integers beyond 64 bits, "
                 "nesting too deep, or keys that are not strings); it is shown with those values replaced")


def repair_answer(content: Any) -> Any:
    """``content`` made encodable; each dict whose ``metadata`` had to change gets a ``metadata_note``."""
    if isinstance(content, list):
        return [repair_answer(x) for x in content]
    if not isinstance(content, dict):
        return safe_copy(content)[0]
    out: dict[str, Any] = {}
    noted = False
    for k, v in content.items():
        if k == "metadata":
            v, changed = safe_copy(v)
            noted |= changed
        elif isinstance(v, (dict, list)):
            v = repair_answer(v)
        else:
            v, changed = safe_copy(v)
            noted |= changed and k in ("caption", "labels")
        out[k if isinstance(k, str) else str(k)] = v
    if noted:
        out["metadata_note"] = METADATA_NOTE
    return out
