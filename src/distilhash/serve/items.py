"""Items of a served index: fetch, thumbnail, "more like this", add and delete (the write key).

Item ids are visible text of 1-200 characters, ``/`` included (the rules:
:func:`distilhash.serve.validate.check_item_id`): the routes take the id as the rest of the path
(``/api/items/{id}``, percent-encoded by clients; the answers' URLs are), so ids made from
relative file paths (``cats/001.jpg``) can be fetched and deleted like any other. Ids are stored
in their NFC form, and a lookup by another spelling of the same text (NFD) finds the item.

An add either stores everything (code, metadata, thumbnail) or nothing: the id, metadata and
image are checked first, the thumbnail is written only after the index accepted the item, and a
refused duplicate leaves the existing item and its thumbnail untouched.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from distilhash.data.captions import shown_caption
from distilhash.errors import DistilhashError
from distilhash.serve.batching import pin_torch_threads
from distilhash.serve.config import ServiceError
from distilhash.serve.config import ServiceConfig
from distilhash.serve.jsonsafe import check_metadata, public_metadata
from distilhash.serve.match import match_notes
from distilhash.serve.routes import item_path, thumbnail_path
from distilhash.serve.targets import model_info
from distilhash.serve.thumbs import encode_thumbnail, thumb_keys
from distilhash.serve.writer import forward
from distilhash.serve.validate import MAX_ID_CHARS, check_caption, check_item_id, key_matches, normalise_id, shown

if TYPE_CHECKING:
    from distilhash.serve.targets import Target

__all__ = ["ItemsMixin", "ItemHost", "check_item_id", "item_url", "thumbnail_url", "shown_caption", "MAX_ID_CHARS"]


def item_url(item_id: str, modality: str) -> str:
    return f"{item_path(item_id)}?target={modality}"


def thumbnail_url(item_id: str, modality: str) -> str:
    return f"{thumbnail_path(item_id)}?target={modality}"


def _spellings(item_id: str) -> list[str]:
    """The id as sent and its NFC form (stored ids are NFC; items stored before may not be)."""
    nfc = normalise_id(item_id)
    return [item_id] if nfc == item_id else [item_id, nfc]


@runtime_checkable
class ItemHost(Protocol):
    """What :class:`ItemsMixin` needs from the class it is mixed into (``SearchService``)."""

    config: ServiceConfig
    _image_lock: threading.Lock

    def _target(self, name: str | None) -> Target:
        """The served index named ``name`` (None: the primary one); ServiceError 400 for other names."""

    def _search(self, target: Target, query: Any, k: int, timings: dict[str, float]) -> list[dict[str, Any]]:
        """The answer items of one query code ``query`` [1, code width] on ``target``'s index."""

    def check_k(self, k: Any) -> int:
        """``k`` if it is an allowed result count, else ServiceError 400."""

    def decode_image(self, data: bytes, what: str = "file") -> Any:
        """An RGB PIL image from uploaded bytes, its work bounded; ServiceError 413/400/415."""

    def encode_new_image(self, target: Target, image: Any) -> Any:
        """The database code (``Encoded`` [1]) of an added item's image (concurrent adds encoded together)."""


# type checkers see the host's members on ``self``; at run time the mixin is a plain class
if TYPE_CHECKING:
    _Host = ItemHost
else:
    _Host = object


class ItemsMixin(_Host):
    """Item routes of :class:`~distilhash.serve.engine.SearchService`; what they use of it is :class:`ItemHost`."""

    def _lookup(self, target: Any, item_id: str) -> tuple[str, np.ndarray, dict[str, Any]]:
        """(stored id, code, metadata) of ``item_id`` as sent or in its NFC spelling; 404 when neither is stored."""
        with target.lock.read():
            found = target.index.get(_spellings(item_id))
        if not found:
            raise ServiceError(404, f"no item with id {shown(item_id)} in the {target.modality} index")
        stored = item_id if item_id in found else next(iter(found))
        return (stored, *found[stored])

    def get_item(self, item_id: str, target: str | None = None) -> dict[str, Any]:
        """An item's id, caption, labels, metadata and thumbnail URL (404 for unknown ids)."""
        t = self._target(target)
        item_id, _, md = self._lookup(t, item_id)
        has = t.thumbs.has_any(thumb_keys(item_id, md))
        return {"id": item_id, "target": t.modality, "caption": shown_caption(md), "labels": md.get("labels"),
                "metadata": public_metadata(md), "url": item_url(item_id, t.modality), "thumbnail": thumbnail_url(item_id, t.modality) if has else None}

    def thumbnail(self, item_id: str, target: str | None = None) -> tuple[str, bytes]:
        """(mime, bytes) of an item's thumbnail from the index's own store; 404 for unknown ids."""
        t = self._target(target)
        item_id, _, md = self._lookup(t, item_id)
        got = t.thumbs.get(thumb_keys(item_id, md))
        if got is None:
            raise ServiceError(404, f"item {shown(item_id)} has no thumbnail in the {t.modality} index's thumbnail store")
        return got

    def similar(self, item_id: str, k: int = 10, target: str | None = None) -> dict[str, Any]:
        """"More like this": the items nearest to a stored item's own code in its index (the item among them).

        The query is the item's code (binary: its bits; PQ: its reconstruction from the codebooks,
        searched by ADC like any float query).
        """
        k = self.check_k(k)
        t = self._target(target)
        item_id, code, md = self._lookup(t, item_id)
        if not t.index.kind.needs_codebooks:  # binary
            query: np.ndarray = code.reshape(1, -1)
        else:
            cb = t.index.codebooks  # [M, K, d]
            query = cb[np.arange(cb.shape[0]), code.astype(np.int64)].reshape(1, -1).astype(np.float32)
        timings: dict[str, float] = {}
        results, partial = self._search(t, query, k, timings)
        match = match_notes(t.reference, None, query, [results[0]["distance"] if results else None])[0]
        return {"query": f"items like {item_id}", "item": {"id": item_id, "caption": shown_caption(md)},
                "direction": f"{t.modality[0]}2{t.modality[0]}", "k": k, "results": results, "timings_ms": timings,
                "match": match, "distance": t.distance, "model": model_info(t), **partial}

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
        """Encode and add one item (image index: needs ``image``; text index: needs ``caption``).

        A server process of a multi-process writable service forwards the add to the index's writer
        (:mod:`distilhash.serve.writer`) and answers with the item as its own (following) index holds it."""
        t = self._target(target)
        if self.config.writer_socket:
            fields = {"id": item_id, "caption": caption, "metadata": metadata, "target": t.modality}
            stored = forward(self.config.writer_socket, "add", fields, image)["id"]
            return self.get_item(stored, t.modality)
        item_id = check_item_id(item_id)
        md = dict(check_metadata(metadata, self.config.max_metadata_bytes, self.config.max_metadata_depth))
        if "caption" in md:  # a caption is a caption wherever it comes from
            md["caption"] = check_caption(md["caption"], self.config.max_query_chars, "metadata.caption")
        if caption is not None and (not isinstance(caption, str) or caption.strip()):
            md["caption"] = check_caption(caption, self.config.max_query_chars, "caption")
        pil = self.decode_image(image, "image") if image else None
        if t.modality == "image" and pil is None:
            raise ServiceError(400, "image: this index stores images; send the item's image file")
        if t.modality == "text" and "caption" not in md:
            raise ServiceError(400, "caption: this index stores texts; send the item's caption")
        with t.lock.read():
            if item_id in t.index.get([item_id]):  # early refusal; checked again under the write lock
                raise ServiceError(409, f"id: {shown(item_id)} is already in the {t.modality} index; delete it first")
        pin_torch_threads()
        if t.modality == "image":
            codes = self.encode_new_image(t, pil)
        else:
            codes = t.encoder.encode_items("text", [md["caption"]])
        md["source"] = "api"
        thumb = encode_thumbnail(pil, self.config.thumb_size) if pil is not None else None
        with t.write_mutex:  # not the search lock: searches go on while the add is synced
            if item_id in t.index.get([item_id]):
                raise ServiceError(409, f"id: {shown(item_id)} is already in the {t.modality} index; delete it first")
            try:
                t.index.add([item_id], codes, [md])
            except DistilhashError as exc:
                raise ServiceError(400, f"the index refused the item: {exc}") from None
            if thumb is not None:  # only once the item is stored: a refused add never touches thumbnails
                t.thumbs.put_many([(f"id:{item_id}", *thumb)])
        return self.get_item(item_id, t.modality)

    def delete_item(self, item_id: str, target: str | None = None) -> dict[str, Any]:
        """Delete an item and its thumbnail (404 for unknown ids); forwarded to the writer like :meth:`add_item`."""
        t = self._target(target)
        if self.config.writer_socket:
            return forward(self.config.writer_socket, "delete", {"id": item_id, "target": t.modality})
        with t.write_mutex:
            found = t.index.get(_spellings(item_id))
            if not found:
                raise ServiceError(404, f"no item with id {shown(item_id)} in the {t.modality} index")
            item_id = item_id if item_id in found else next(iter(found))
            t.index.delete([item_id])
            t.thumbs.delete([f"id:{item_id}"])
        return {"deleted": item_id, "target": t.modality, "count": len(t.index)}
