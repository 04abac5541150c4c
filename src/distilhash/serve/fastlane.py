"""The text search route without the framework: ``GET /api/search`` answered in one ASGI step.

Under load a text query costs the service about a millisecond of CPU, and FastAPI's layers around
the route (exception and exit-stack middleware, route matching, dependency solving, the response
object and three ``send`` wrappers) were about a third of it. :class:`SearchFastLane` sits inside
the request guard (which still checks the Host/Origin, counts error statuses and times the route)
and answers the hot route itself when its query string is *plain*:

* ``q`` given once (any text: the service checks it), ``k`` absent or once as a canonical
  positive integer (``[1-9][0-9]{0,5}``), ``direction`` absent or once; other keys are ignored,
  as FastAPI ignores them.

The answer is the route's own: ``FastJSONResponse(await svc.search_text_async(q, k, direction))``,
a :class:`~distilhash.serve.config.ServiceError` becomes the same refusal the app's handler makes,
and any other exception propagates to the app's outer error middleware as it would from the
route. Everything else (a missing or repeated ``q``, ``k=0``, ``k=abc``, ``k=+5``, HEAD, another
path) goes to the application unchanged, so its validation messages stay FastAPI's and
``tests/test_serve_fastlane.py`` checks that both lanes give the same bytes.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from distilhash.serve.config import ServiceError
from distilhash.serve.responses import FastJSONResponse, refusal
from distilhash.serve.routes import SEARCH

__all__ = ["SearchFastLane", "plain_search_params"]

_K = re.compile(r"[1-9][0-9]{0,5}")
_KEYS = ("q", "k", "direction")


def plain_search_params(query_string: bytes) -> tuple[str, int, str | None] | None:
    """``(q, k, direction)`` of a plain search query string (module docstring), else None.

    Decoded as Starlette decodes it (latin-1, then ``parse_qsl`` with blank values kept), so the
    values are the ones the route would receive.
    """
    found: dict[str, str] = {}
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key in _KEYS:
            if key in found:
                return None
            found[key] = value
    q, k = found.get("q"), found.get("k")
    if q is None or (k is not None and not _K.fullmatch(k)):
        return None
    return q, 10 if k is None else int(k), found.get("direction")


class SearchFastLane:
    """ASGI middleware: plain ``GET /api/search`` requests answered directly (module docstring).

    Args:
        app: the wrapped application (everything else goes to it).
        svc: the :class:`~distilhash.serve.engine.SearchService` (``search_text_async``).
        router: the application's router; its ``GET /api/search`` route is put in the request
            scope (``scope["route"]``) as FastAPI's routing would, for the guard's latency table.
    """

    def __init__(self, app: Any, svc: Any, router: Any) -> None:
        self.app, self.svc, self.router = app, svc, router
        self._route: Any = None

    def route(self) -> Any:
        """The router's ``GET /api/search`` route (looked up once, after the routes are mounted)."""
        if self._route is None:
            self._route = next(r for r in self.router.routes if getattr(r, "path", None) == SEARCH and "GET" in r.methods)
        return self._route

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != SEARCH or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        params = plain_search_params(scope["query_string"])
        if params is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route()
        try:
            response = FastJSONResponse(await self.svc.search_text_async(*params))
        except ServiceError as exc:
            response = refusal(exc.status, exc.message)
        await response(scope, receive, send)
