"""Items of a served index: fetch, thumbnail, "more like this", add and delete (the write key).

Item ids are any printable text of 1-200 characters, ``/`` included: the routes take the id as
the rest of the path (``/api/items/{id}``, percent-encoded by clients; the answers' URLs are),
so ids made from relative file paths (``cats/001.jpg``) can be fetched and deleted like any
other. Refused at add: control characters, ``U+FFFD`` (the mark of text that was not valid
UTF-8), and the path segments ``.`` / ``..`` (browsers rewrite such URLs before sending them).

An add either stores everything (code, metadata, thumbnail) or nothing: the id, metadata and
image are checked first, the thumbnail is written only after the index accepted the item, and a
refused duplicate leaves the existing item and its thumbnail untouched.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import quote

import numpy as np

from distilhash.errors import DistilhashError
from distilhash.serve.batching import pin_torch_threads
from distilhash.serve.config import ServiceError
from distilhash.serve.jsonsafe import check_metadata
from distilhash.serve.targets import model_info
from distilhash.serve.thumbs import encode_thumbnail, thumb_keys
from distilhash.serve.validate import key_matches

__all__ = ["ItemsMixin", "check_item_id", "item_url", "thumbnail_url", "MAX_ID_CHARS"]

MAX_ID_CHARS = 200


#: ids that percent-encode to themselves except for ``/`` (``quote``'s always-safe set plus ``/``)
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.~/-]*")


def _path_segment(item_id: str) -> str:
    """``quote(item_id, safe='')``; plain ids (most) without ``quote``'s per-character loop, which
    cost ~3 % of a search request's CPU with ten hits per answer."""
    if _PLAIN_ID.fullmatch(item_id):
        return item_id.replace("/", "%2F")
    return quote(item_id, safe="")


def item_url(item_id: str, modality: str) -> str:
    return f"/api/items/{_path_segment(item_id)}?target={modality}"


def thumbnail_url(item_id: str, modality: str) -> str:
    return f"/api/thumbnails/{_path_segment(item_id)}?target={modality}"


def check_item_id(item_id: Any) -> str:
    """``item_id`` if it can be stored, fetched and deleted through the API, else ServiceError 400."""
    if not isinstance(item_id, str) or not item_id.strip():
        raise ServiceError(400, "id: expected a non-empty text id")
    if len(item_id) > MAX_ID_CHARS:
        raise ServiceError(400, f"id: {len(item_id)} characters; the limit is {MAX_ID_CHARS}")
    if "\ufffd" in item_id:
        raise ServiceError(400, "id: contains U+FFFD, the mark of bytes that were not valid UTF-8; send the id as UTF-8 text")
    bad = next((c for c in item_id if unicodedata.category(c) in ("Cc", "Cs", "Cn")), None)
    if bad is not None:
        raise ServiceError(400, f"id: contains the control or unassigned character U+{ord(bad):04X}; ids must be printable text")
    if any(seg in (".", "..") for seg in item_id.split("/")):
        raise ServiceError(400, "id: the path segments '.' and '..' are not allowed in ids (browsers rewrite such URLs)")
    return item_id


class ItemsMixin:
    """Item routes of :class:`~distilhash.serve.engine.SearchService` (uses its targets, config, locks)."""

    def _lookup(self, target: Any, item_id: str) -> tuple[np.ndarray, dict[str, Any]]:
        with target.lock.read():
            found = target.index.get([item_id])
        if item_id not in found:
            raise ServiceError(404, f"no item with id {item_id!r} in the {target.modality} index")
        return found[item_id]

    def get_item(self, item_id: str, target: str | None = None) -> dict[str, Any]:
        """An item's id, caption, labels, metadata and thumbnail URL (404 for unknown ids)."""
        t = self._target(target)
        _, md = self._lookup(t, item_id)
        has = t.thumbs.has_any(thumb_keys(item_id, md))
        return {"id": item_id, "target": t.modality, "caption": md.get("caption"), "labels": md.get("labels"),
                "metadata": md, "url": item_url(item_id, t.modality), "thumbnail": thumbnail_url(item_id, t.modality) if has else None}

    def thumbnail(self, item_id: str, target: str | None = None) -> tuple[str, bytes]:
        """(mime, bytes) of an item's thumbnail from the index's own store; 404 for unknown ids."""
        t = self._target(target)
        _, md = self._lookup(t, item_id)
        got = t.thumbs.get(thumb_keys(item_id, md))
        if got is None:
            raise ServiceError(404, f"item {item_id!r} has no thumbnail in the {t.modality} index's thumbnail store")
        return got

    def similar(self, item_id: str, k: int = 10, target: str | None = None) -> dict[str, Any]:
        """"More like this": the items nearest to a stored item's own code in its index (the item among them).

        The query is the item's code (binary: its bits; PQ: its reconstruction from the codebooks,
        searched by ADC like any float query).
        """
        k = self.check_k(k)
        t = self._target(target)
        code, md = self._lookup(t, item_id)
        if t.index.kind == "binary":
            query: np.ndarray = code.reshape(1, -1)
        else:
            cb = t.index.codebooks  # [M, K, d]
            query = cb[np.arange(cb.shape[0]), code.astype(np.int64)].reshape(1, -1).astype(np.float32)
        timings: dict[str, float] = {}
        results = self._search(t, query, k, timings)
        match = t.reference.summaries(query, [results[0]["distance"] if results else None])[0] if t.reference is not None else None
        return {"query": f"items like {item_id}", "item": {"id": item_id, "caption": md.get("caption")},
                "direction": f"{t.modality[0]}2{t.modality[0]}", "k": k, "results": results, "timings_ms": timings,
                "match": match, "distance": t.distance, "model": model_info(t)}

    def check_key(self, key: str | None) -> None:
        """ServiceError 403 without a service key or with a wrong key, 401 without a key.

        The key is compared without the whitespace around it (RFC 9110 5.5; see :mod:`distilhash.serve.validate`)."""
        expected = self.config.api_key
        if not expected:
            raise ServiceError(403, "this service was started without an API key, so adding and deleting items is disabled")
        if not key or not key.strip(" \t"):
            raise ServiceError(401, "missing API key: send it in the X-API-Key header")
        if not key_matches(key, expected):
            raise ServiceError(403, "wrong API key")

    def add_item(self, item_id: str, caption: str | None = None, image: bytes | None = None,
                 metadata: str | dict[str, Any] | None = None, target: str | None = None) -> dict[str, Any]:
        """Encode and add one item (image index: needs ``image``; text index: needs ``caption``)."""
        t = self._target(target)
        item_id = check_item_id(item_id)
        md = dict(check_metadata(metadata, self.config.max_metadata_bytes, self.config.max_metadata_depth))
        if caption is not None and caption.strip():
            md["caption"] = self.check_text(caption, "caption")
        pil = self.decode_image(image, "image") if image else None
        if t.modality == "image" and pil is None:
            raise ServiceError(400, "image: this index stores images; send the item's image file")
        if t.modality == "text" and "caption" not in md:
            raise ServiceError(400, "caption: this index stores texts; send the item's caption")
        with t.lock.read():
            if item_id in t.index.get([item_id]):  # early refusal; checked again under the write lock
                raise ServiceError(409, f"id: {item_id!r} is already in the {t.modality} index; delete it first")
        pin_torch_threads()
        if t.modality == "image":
            with self._image_lock:
                feats = np.asarray(t.encoder.teacher.encode_images([pil]), dtype=np.float32)
        else:
            feats = np.asarray(t.encoder.teacher.encode_texts([md["caption"]]), dtype=np.float32)
        codes = t.encoder.method.encode(t.modality, feats, role="database")
        md["source"] = "api"
        thumb = encode_thumbnail(pil, self.config.thumb_size) if pil is not None else None
        with t.lock.write():
            if item_id in t.index.get([item_id]):
                raise ServiceError(409, f"id: {item_id!r} is already in the {t.modality} index; delete it first")
            try:
                t.index.add([item_id], codes, [md])
            except DistilhashError as exc:
                raise ServiceError(400, f"the index refused the item: {exc}") from None
            if thumb is not None:  # only once the item is stored: a refused add never touches thumbnails
                t.thumbs.put_many([(f"id:{item_id}", *thumb)])
        return self.get_item(item_id, t.modality)

    def delete_item(self, item_id: str, target: str | None = None) -> dict[str, Any]:
        """Delete an item and its thumbnail (404 for unknown ids)."""
        t = self._target(target)
        with t.lock.write():
            if item_id not in t.index.get([item_id]):
                raise ServiceError(404, f"no item with id {item_id!r} in the {t.modality} index")
            t.index.delete([item_id])
            t.thumbs.delete([f"id:{item_id}"])
        return {"deleted": item_id, "target": t.modality, "count": len(t.index)}
