"""The HTTP API and the web page (FastAPI) over a :class:`~distilhash.serve.engine.SearchService`.

The paths are the constants of :mod:`distilhash.serve.routes`; the JSON routes are
:mod:`distilhash.serve.api` with the models of their answers (OpenAPI schema at ``/openapi.json``,
interactive docs at ``/docs``; the table of routes is in docs/serve.md). This module adds the
search page (``/``), its route table (``/routes.js``), the static files, the request guard and the
refusal handlers.

Refusals are JSON ``{"error": message, "status": code}``: the message names the field and what
was expected, and never carries a Python repr or exception name (anything unexpected is a 500
with a fixed message; the details go to the server log).

Speed: JSON answers are written with orjson when it is installed (else the standard encoder);
text search is an ``async`` route that awaits the service's batched query path without holding
a worker thread, and plain text searches skip the framework's layers
(:mod:`distilhash.serve.fastlane`); the request guard (:mod:`distilhash.serve.guard`) is a plain
ASGI middleware.
"""

import logging
import re
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from distilhash.serve import routes
from distilhash.serve.api import router
from distilhash.serve.refusal import ServiceError
from distilhash.serve.responses import FastJSONResponse, refusal

__all__ = ["create_app", "STATIC_DIR"]

STATIC_DIR = Path(str(resources.files("distilhash.serve") / "static"))
_log = logging.getLogger("distilhash.serve")


#: FastAPI / pydantic error type -> what the field expected
_EXPECTED = {
    "missing": "is required",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "int_type": "expected an integer",
    "greater_than_equal": "expected an integer >= {ge}",
    "less_than_equal": "expected an integer <= {le}",
    "string_type": "expected text",
    "string_unicode": "expected UTF-8 text",
    "value_error": "expected a file upload (a multipart file part)",
}


def _validation_message(errors: list[dict[str, Any]]) -> str:
    """One line per invalid field, in our words (no pydantic class names or reprs)."""
    parts = []
    for e in errors:
        loc = tuple(e.get("loc", ()))
        where = ".".join(str(x) for x in loc if x not in ("body", "query", "path", "header")) or "request"
        ctx = e.get("ctx") or {}
        template = _EXPECTED.get(e.get("type", ""))
        if e.get("type") == "missing" and loc[:1] == ("body",) and len(loc) == 2:  # a raw body, or a misnamed part
            template = (f"is required, as a multipart/form-data field named {where} (curl -F {where}=@photo.jpg "
                        f"for a file, -F {where}=TEXT for text)")
        if template is not None:
            try:
                text = template.format(**ctx)
            except (KeyError, IndexError):
                text = template
        else:
            text = _scrub(str(e.get("msg", "invalid value")))
        parts.append(f"{where}: {text}")
    return "invalid request: " + "; ".join(parts)


_REPR = re.compile(r"<[^<>]*(?:object at 0x[0-9a-fA-F]+|class '[^']*')[^<>]*>")


def _scrub(text: str) -> str:
    """``text`` without Python object reprs (``<... object at 0x...>``, ``<class '...'>``)."""
    return _REPR.sub("a value", text)


def create_app(index_dir: str | Path | list[str | Path], model_dir: str | Path | None = None, teacher: str | None = None,
               api_key: str | None = None, max_upload_mb: float = 8.0, service: Any = None, body_timeout: float = 15.0,
               allowed_hosts: list[str] | None = None, body_limits: dict[str, Any] | None = None, **config: Any):
    """Build the FastAPI application.

    Args:
        index_dir: an index directory, or a list (one per stored modality: image and/or text).
        model_dir, teacher: override what the index manifests record.
        api_key: enables add/delete for requests carrying it in ``X-API-Key``.
        max_upload_mb: largest accepted upload.
        service: a ready :class:`SearchService` (then the other arguments are ignored).
        body_timeout: seconds a request body may stall before a 408.
        allowed_hosts: host names the ``Host`` and ``Origin`` headers may carry (None: any; see
            :mod:`distilhash.serve.hosts`; :func:`~distilhash.serve.server.start_service` sets it
            for a loopback binding).
        body_limits: :class:`~distilhash.serve.limits.BodyLimits` fields (``min_rate``, ``grace_s``,
            ``deadline_s``, ``spool_bytes``, ``max_uploads``; ``stall_s`` is ``body_timeout``).
        **config: more :class:`ServiceConfig` fields (``max_query_chars``, ``text_cache_size``, ...).
    """
    from distilhash.serve.engine import SearchService, ServiceConfig
    from distilhash.serve.fastlane import SearchFastLane
    from distilhash.serve.guard import RequestGuard
    from distilhash.serve.start import StartPage
    from distilhash.serve.hosts import HostPolicy
    from distilhash.serve.limits import BodyLimits
    from distilhash.serve.readonly import hold_reader_locks, release_all

    reader_locks: list[Any] = []
    if service is None:
        cfg = ServiceConfig(api_key=api_key or None, max_upload_bytes=int(max_upload_mb * 2**20), **config)
        if cfg.api_key is None:  # read-only: never beside a writer it would not see (serve/readonly.py)
            reader_locks = hold_reader_locks([index_dir] if isinstance(index_dir, (str, Path)) else list(index_dir))
        try:
            service = SearchService(index_dir, model_dir=model_dir, teacher=teacher, config=cfg)
        except BaseException:
            release_all(reader_locks)
            raise
    svc: SearchService = service

    @asynccontextmanager
    async def lifespan(_: Any):
        yield
        svc.close()
        release_all(reader_locks)

    app = FastAPI(title="distilhash search", version="0.2.0", lifespan=lifespan, default_response_class=FastJSONResponse,
                  description="Search compact cross-modal codes by text or image (distilhash).")
    app.state.service = svc
    app.state.start = StartPage(svc)
    for exc_type, handler in _HANDLERS.items():
        app.add_exception_handler(exc_type, handler)
    app.add_middleware(SearchFastLane, svc=svc, router=router)  # inside the guard (the last added is outermost)
    app.add_middleware(RequestGuard, svc=svc, cap=svc.config.max_upload_bytes, hosts=HostPolicy.of(allowed_hosts),
                       limits=BodyLimits(**{"stall_s": body_timeout, **(body_limits or {})}))
    app.add_api_route(routes.PAGE, page, methods=["GET", "HEAD"], include_in_schema=False)  # HEAD: `curl -I`, monitors
    app.add_api_route(routes.ROUTES_JS, routes_script, include_in_schema=False)
    app.mount(routes.STATIC, StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
    return app


def page() -> FileResponse:
    """The search page."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


def routes_script() -> Response:
    """The route table the page's script reads (``window.DISTILHASH_ROUTES``)."""
    return Response(routes.routes_js(), media_type="text/javascript", headers={"Cache-Control": "no-cache"})


async def _service_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return refusal(exc.status, exc.message)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return refusal(422, _validation_message(list(exc.errors())))


#: the form parser's refusals (Starlette's ``MultiPartException`` texts, by their start) -> ours; ``{n}``: its limit
_FORM_REFUSALS = (
    ("Too many fields", "the form has more than {n} fields; send only the fields this route reads"),
    ("Too many files", "the form has more than {n} file parts; send one file"),
    ("Part exceeded maximum size", "a text field of the form is over {n} KB; send a file as a file part (with a "
                                   "filename), and metadata under 64 KB"),
    ("Field exceeded maximum size", "a text field of the form is over {n} KB; send a file as a file part (with a "
                                    "filename), and metadata under 64 KB"),
    ("Missing boundary", "the multipart/form-data Content-Type has no boundary (multipart/form-data; boundary=...)"),
    ("The Content-Disposition header field", "a part of the multipart form has no name (Content-Disposition: "
                                             "form-data; name=file)"),
)


def _form_refusal(detail: str) -> str:
    """The form parser's refusal in our words, saying which rule the form broke."""
    for start, ours in _FORM_REFUSALS:
        if detail.startswith(start):
            n = re.search(r"\d+", detail)
            return ours.format(n=f"{int(n.group()):,}" if n else "the limit")
    return "the request body is not a well-formed form (multipart/form-data or urlencoded)"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    messages = {404: f"no such page or route: {request.url.path[:200]}", 405: f"{request.method} is not allowed on {request.url.path[:200]}",
                400: _form_refusal(str(exc.detail))}
    return refusal(exc.status_code, messages.get(exc.status_code, _scrub(str(exc.detail))), getattr(exc, "headers", None))


async def _unexpected(_: Request, exc: Exception) -> Response:
    _log.error("unexpected error", exc_info=exc)
    return refusal(500, "the service failed to answer this request; the server log has the details")


#: exception type -> the refusal it becomes (every one a :class:`~distilhash.serve.api.Refusal`)
_HANDLERS: dict[Any, Any] = {ServiceError: _service_error, RequestValidationError: _validation_error,
                             StarletteHTTPException: _http_error, Exception: _unexpected}
