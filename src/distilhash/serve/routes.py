"""Every route of the HTTP service, in one place: the app, the request guard, the items' URLs, the
page's script (served as :data:`ROUTES_JS`), the fuzz cases and the tests all read them from here.
:data:`TABLE` says, one row per path, which the page calls (:data:`PAGE_ROUTES`) and which
methods write (:func:`is_write`): a new endpoint is its constant here (and its row when the page
calls it or it writes; other paths need none), its answer model and route in
:mod:`distilhash.serve.api`, and the ``SearchService`` method it calls.

Paths with ``{item_id:path}`` take the rest of the path as an item id (ids may contain ``/``;
clients percent-encode them: :func:`item_path`, :func:`thumbnail_path`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["PAGE", "STATIC", "ROUTES_JS", "DOCS", "OPENAPI", "API", "HEALTH", "STATS", "START", "SEARCH", "SEARCH_IMAGE",
           "SIMILAR", "ITEMS", "Route", "TABLE", "ITEM", "THUMBNAIL", "ITEM_PREFIX", "THUMBNAIL_PREFIX", "PAGE_ROUTES", "item_path", "thumbnail_path", "is_write", "routes_js"]

PAGE = "/"
STATIC = "/static"
ROUTES_JS = "/routes.js"
DOCS = "/docs"
OPENAPI = "/openapi.json"

API = "/api/"  #: every JSON route starts with it (the guard times these)
HEALTH = "/api/health"
STATS = "/api/stats"
START = "/api/start"
SEARCH = "/api/search"
SEARCH_IMAGE = "/api/search/image"
SIMILAR = "/api/search/similar"
ITEMS = "/api/items"  #: POST: add an item
ITEM = "/api/items/{item_id:path}"  #: GET / DELETE one item
THUMBNAIL = "/api/thumbnails/{item_id:path}"



@dataclass(frozen=True)
class Route:
    """One path of the service: ``page`` is its name in the page's script (``window.DISTILHASH_ROUTES``
    in app.js) when the page calls it; ``writes`` the methods on it that add or delete (the API key)."""

    path: str
    page: str | None = None
    writes: tuple[str, ...] = ()


#: every path the page calls or that writes (the others need no row)
TABLE: tuple[Route, ...] = (
    Route(PAGE, page="page"), Route(DOCS, page="docs"), Route(HEALTH, page="health"), Route(STATS, page="stats"),
    Route(START, page="start"), Route(SEARCH, page="search"), Route(SEARCH_IMAGE, page="searchImage"),
    Route(SIMILAR, page="similar"), Route(ITEMS, writes=("POST",)), Route(ITEM, writes=("DELETE",)),
)

#: name -> path of the routes the page's script uses (``window.DISTILHASH_ROUTES`` in app.js)
PAGE_ROUTES: dict[str, str] = {r.page: r.path for r in TABLE if r.page}

#: (method, exact path or ``{...}`` template's prefix, whether it is a prefix) of every writing route
_WRITES = tuple((m, r.path.split("{", 1)[0], "{" in r.path) for r in TABLE for m in r.writes)

ITEM_PREFIX = ITEM.split("{", 1)[0]  #: ``/api/items/``: an item's path without its id
THUMBNAIL_PREFIX = THUMBNAIL.split("{", 1)[0]  #: ``/api/thumbnails/``

#: ids that percent-encode to themselves except for ``/`` (``quote``'s always-safe set plus ``/``)
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.~/-]*")


def _path_segment(item_id: str) -> str:
    """``quote(item_id, safe='')``; plain ids (most) without ``quote``'s per-character loop, which
    cost ~3 % of a search request's CPU with ten hits per answer."""
    if _PLAIN_ID.fullmatch(item_id):
        return item_id.replace("/", "%2F")
    return quote(item_id, safe="")


def item_path(item_id: str) -> str:
    """:data:`ITEM` for ``item_id`` (percent-encoded, ``/`` included)."""
    return ITEM_PREFIX + _path_segment(item_id)


def thumbnail_path(item_id: str) -> str:
    """:data:`THUMBNAIL` for ``item_id`` (percent-encoded, ``/`` included)."""
    return THUMBNAIL_PREFIX + _path_segment(item_id)


def is_write(method: str, path: str) -> bool:
    """Whether a request adds or deletes an item (needs the API key): a method in a :data:`TABLE` row's
    ``writes`` (POST :data:`ITEMS`, DELETE :data:`ITEM`)."""
    p = path.rstrip("/")
    return any(method == m and (p.startswith(where) if prefix else p == where) for m, where, prefix in _WRITES)


def routes_js() -> str:
    """The script the page loads before app.js: ``window.DISTILHASH_ROUTES = {...}``."""
    return f"window.DISTILHASH_ROUTES = Object.freeze({json.dumps(PAGE_ROUTES, sort_keys=True)});\n"
