"""The HTTP API and the web page (FastAPI) over a :class:`~distilhash.serve.engine.SearchService`.

Routes (OpenAPI schema at ``/openapi.json``, interactive docs at ``/docs``):

==========  ==================================  ===============================================
GET         ``/``                               the search page (``serve/static/index.html``)
GET         ``/api/health``                     liveness and item counts
GET         ``/api/stats``                      counts, bits, model, teacher, latency percentiles
GET         ``/api/start``                      the start page: a sample of items, example queries from the captions
GET         ``/api/search?q=TEXT&k=10``         text query (``direction`` t2i | t2t)
POST        ``/api/search/image``               image upload ``file`` (+ ``k``, ``direction`` i2t | i2i)
GET         ``/api/search/similar?id=ID``       "more like this": items nearest to a stored item
GET         ``/api/items/{id}``                 one item with its metadata (ids may contain ``/``)
GET         ``/api/thumbnails/{id}``            its thumbnail, from the index's own store
POST        ``/api/items``                      add (``X-API-Key``): ``id``, ``image`` and/or ``caption``, ``metadata``
DELETE      ``/api/items/{id}``                 delete (``X-API-Key``)
==========  ==================================  ===============================================

Refusals are JSON ``{"error": message, "status": code}``: the message names the field and what
was expected, and never carries a Python repr or exception name (anything unexpected is a 500
with a fixed message; the details go to the server log).

Speed: JSON answers are written with orjson when it is installed (else the standard encoder);
text search is an ``async`` route that awaits the service's batched query path without holding
a worker thread; the request guard (:mod:`distilhash.serve.guard`) is a plain ASGI middleware.
"""

import logging
import re
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, Header, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from distilhash.serve.responses import FastJSONResponse

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
        where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path", "header")) or "request"
        ctx = e.get("ctx") or {}
        template = _EXPECTED.get(e.get("type", ""))
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
    from distilhash.serve.engine import SearchService, ServiceConfig, ServiceError
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
    cap = svc.config.max_upload_bytes

    @asynccontextmanager
    async def lifespan(_: Any):
        yield
        svc.close()
        release_all(reader_locks)

    app = FastAPI(title="distilhash search", version="0.2.0", lifespan=lifespan, default_response_class=FastJSONResponse,
                  description="Search compact cross-modal codes by text or image (distilhash).")
    app.state.service = svc

    def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return FastJSONResponse({"error": message, "status": status}, status_code=status, headers=headers)

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return _error(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        messages = {404: f"no such page or route: {request.url.path[:200]}", 405: f"{request.method} is not allowed on {request.url.path[:200]}",
                    400: "the request body is not a well-formed form (multipart/form-data or urlencoded)"}
        return _error(exc.status_code, messages.get(exc.status_code, _scrub(str(exc.detail))), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        _log.error("unexpected error", exc_info=exc)
        return _error(500, "the service failed to answer this request; the server log has the details")

    app.add_middleware(RequestGuard, svc=svc, cap=cap, hosts=HostPolicy.of(allowed_hosts),
                       limits=BodyLimits(**{"stall_s": body_timeout, **(body_limits or {})}))

    async def _read_upload(upload: UploadFile, field: str) -> bytes:
        data = await upload.read(cap + 1)
        if len(data) > cap:
            raise ServiceError(413, f"{field}: the upload is larger than the limit of {cap:,} bytes ({cap / 2**20:.1f} MB)")
        return data

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/api/health", summary="Liveness and item counts")
    def health() -> dict[str, Any]:
        return svc.health()

    @app.get("/api/stats", summary="Counts, bits, model, teacher, latency percentiles, cache")
    def stats() -> dict[str, Any]:
        return svc.stats()

    start = StartPage(svc)

    @app.get("/api/start", summary="A sample of the index's items and example queries taken from its captions")
    def start_page() -> dict[str, Any]:
        return start.info()

    @app.get("/api/search", summary="Search by text")
    async def search_text(q: str = Query(..., description="query text"),
                          k: int = Query(10, ge=1, description="results to return"),
                          direction: str | None = Query(None, description="t2i (default when an image index is served) or t2t")) -> Response:
        return FastJSONResponse(await svc.search_text_async(q, k, direction))

    @app.post("/api/search/image", summary="Search by an uploaded image")
    async def search_image(file: UploadFile = File(..., description="image file"), k: int = Form(10, ge=1),
                           direction: str | None = Form(None, description="i2t (default when a text index is served) or i2i")) -> dict[str, Any]:
        from starlette.concurrency import run_in_threadpool

        data = await _read_upload(file, "file")
        return await run_in_threadpool(svc.search_image, data, k, direction)

    @app.get("/api/search/similar", summary="More like this: the items nearest to a stored item")
    def similar(id: str = Query(..., description="item id"), k: int = Query(10, ge=1),
                target: str | None = Query(None, description="image or text index")) -> dict[str, Any]:
        return svc.similar(id, k, target)

    @app.get("/api/thumbnails/{item_id:path}", summary="An item's thumbnail (from the index's own store)",
             response_class=Response, responses={200: {"content": {"image/webp": {}, "image/png": {}}}})
    def thumbnail(item_id: str, target: str | None = Query(None)) -> Response:
        mime, data = svc.thumbnail(item_id, target)
        return Response(data, media_type=mime, headers={"Cache-Control": "public, max-age=300"})

    @app.get("/api/items/{item_id:path}", summary="One item with its metadata")
    def get_item(item_id: str, target: str | None = Query(None, description="image or text index")) -> dict[str, Any]:
        return svc.get_item(item_id, target)

    @app.post("/api/items", summary="Add an item (needs X-API-Key)", status_code=201)
    async def add_item(id: str = Form(..., description="new item id"),
                       caption: str | None = Form(None), metadata: str | None = Form(None, description="JSON object"),
                       image: UploadFile | None = File(None), target: str | None = Form(None),
                       x_api_key: str | None = Header(None)) -> dict[str, Any]:
        from starlette.concurrency import run_in_threadpool

        svc.check_key(x_api_key)
        data = await _read_upload(image, "image") if image is not None else None
        return await run_in_threadpool(svc.add_item, id, caption, data, metadata, target)

    @app.delete("/api/items/{item_id:path}", summary="Delete an item (needs X-API-Key)")
    def delete_item(item_id: str, target: str | None = Query(None), x_api_key: str | None = Header(None)) -> dict[str, Any]:
        svc.check_key(x_api_key)
        return svc.delete_item(item_id, target)

    return app
