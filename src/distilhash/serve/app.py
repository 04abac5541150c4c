"""The HTTP API and the web page (FastAPI) over a :class:`~distilhash.serve.engine.SearchService`.

Routes (OpenAPI schema at ``/openapi.json``, interactive docs at ``/docs``):

==========  ==================================  ===============================================
GET         ``/``                               the search page (``serve/static/index.html``)
GET         ``/api/health``                     liveness and item counts
GET         ``/api/stats``                      counts, bits, model, teacher, latency percentiles
GET         ``/api/search?q=TEXT&k=10``         text query (``direction`` t2i | t2t)
POST        ``/api/search/image``               image upload ``file`` (+ ``k``, ``direction`` i2t | i2i)
GET         ``/api/items/{id}``                 one item with its metadata
GET         ``/api/items/{id}/thumbnail``       its thumbnail, from the index's own store
POST        ``/api/items``                      add (``X-API-Key``): ``id``, ``image`` and/or ``caption``, ``metadata``
DELETE      ``/api/items/{id}``                 delete (``X-API-Key``)
==========  ==================================  ===============================================

Refusals are JSON ``{"error": message, "status": code}`` with a 4xx status.

Speed: JSON answers are written with orjson when it is installed (else the standard encoder);
text search is an ``async`` route that awaits the service's batched query path without holding
a worker thread; the request guard (upload cap, error counts, per-route latency) is a plain ASGI
middleware (no per-request task or body streaming wrapper).
"""

import time
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, Header, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

__all__ = ["create_app", "STATIC_DIR", "FastJSONResponse"]

STATIC_DIR = Path(str(resources.files("distilhash.serve") / "static"))

try:  # orjson: ~5-10x faster JSON encoding than the standard library
    import orjson

    class FastJSONResponse(JSONResponse):
        """JSON answer encoded with orjson (numpy scalars and arrays allowed)."""

        def render(self, content: Any) -> bytes:
            return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)

except ImportError:  # pragma: no cover - orjson is optional
    FastJSONResponse = JSONResponse  # type: ignore[misc,assignment]


class _Guard:
    """ASGI middleware: refuse oversized uploads by Content-Length (413), count error statuses,
    record the latency of every ``/api/`` request per route (``http METHOD PATH``)."""

    def __init__(self, app: Any, svc: Any, cap: int) -> None:
        self.app, self.svc, self.cap = app, svc, cap

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        svc, cap = self.svc, self.cap
        for name, value in scope.get("headers") or ():
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await FastJSONResponse({"error": "invalid Content-Length header", "status": 400}, 400)(scope, receive, send)
                    return
                if length > cap + (64 << 10):  # room for the multipart envelope
                    svc.errors[413] = svc.errors.get(413, 0) + 1
                    msg = f"the request has {length:,} bytes; uploads are limited to {cap:,} bytes ({cap / 2**20:.1f} MB)"
                    await FastJSONResponse({"error": msg, "status": 413}, 413)(scope, receive, send)
                    return
        status = [0]

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                if status[0] >= 400:
                    svc.errors[status[0]] = svc.errors.get(status[0], 0) + 1
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if scope["path"].startswith("/api/"):
                route = scope.get("route")
                svc.stats_.record(f"http {scope['method']} {route.path}" if route is not None else "http other",
                                  (time.perf_counter() - t0) * 1e3)


def create_app(index_dir: str | Path | list[str | Path], model_dir: str | Path | None = None, teacher: str | None = None,
               api_key: str | None = None, max_upload_mb: float = 8.0, service: Any = None, **config: Any):
    """Build the FastAPI application.

    Args:
        index_dir: an index directory, or a list (one per stored modality: image and/or text).
        model_dir, teacher: override what the index manifests record.
        api_key: enables add/delete for requests carrying it in ``X-API-Key``.
        max_upload_mb: largest accepted upload.
        service: a ready :class:`SearchService` (then the other arguments are ignored).
        **config: more :class:`ServiceConfig` fields (``max_query_chars``, ``text_cache_size``, ...).
    """
    from distilhash.serve.engine import SearchService, ServiceConfig, ServiceError

    if service is None:
        cfg = ServiceConfig(api_key=api_key or None, max_upload_bytes=int(max_upload_mb * 2**20), **config)
        service = SearchService(index_dir, model_dir=model_dir, teacher=teacher, config=cfg)
    svc: SearchService = service
    cap = svc.config.max_upload_bytes

    @asynccontextmanager
    async def lifespan(_: Any):
        yield
        svc.close()

    app = FastAPI(title="distilhash search", version="0.1.0", lifespan=lifespan, default_response_class=FastJSONResponse,
                  description="Search compact cross-modal codes by text or image (distilhash).")
    app.state.service = svc

    def _error(status: int, message: str) -> JSONResponse:
        return FastJSONResponse({"error": message, "status": status}, status_code=status)

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return _error(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path"))
            parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return _error(422, "invalid request: " + "; ".join(parts))

    app.add_middleware(_Guard, svc=svc, cap=cap)

    async def _read_upload(upload: UploadFile) -> bytes:
        data = await upload.read(cap + 1)
        if len(data) > cap:
            raise ServiceError(413, f"the upload {upload.filename!r} is larger than the limit of {cap:,} bytes ({cap / 2**20:.1f} MB)")
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

    @app.get("/api/search", summary="Search by text")
    async def search_text(q: str = Query(..., description="query text"),
                    k: int = Query(10, ge=1, description="results to return"),
                    direction: str | None = Query(None, description="t2i (default when an image index is served) or t2t")) -> Response:
        return FastJSONResponse(await svc.search_text_async(q, k, direction))

    @app.post("/api/search/image", summary="Search by an uploaded image")
    async def search_image(file: UploadFile = File(..., description="image file"), k: int = Form(10, ge=1),
                           direction: str | None = Form(None, description="i2t (default when a text index is served) or i2i")) -> dict[str, Any]:
        from starlette.concurrency import run_in_threadpool

        data = await _read_upload(file)
        return await run_in_threadpool(svc.search_image, data, k, direction)

    @app.get("/api/items/{item_id}", summary="One item with its metadata")
    def get_item(item_id: str, target: str | None = Query(None, description="image or text index")) -> dict[str, Any]:
        return svc.get_item(item_id, target)

    @app.get("/api/items/{item_id}/thumbnail", summary="An item's thumbnail (from the index's own store)",
             response_class=Response, responses={200: {"content": {"image/webp": {}, "image/png": {}}}})
    def thumbnail(item_id: str, target: str | None = Query(None)) -> Response:
        mime, data = svc.thumbnail(item_id, target)
        return Response(data, media_type=mime, headers={"Cache-Control": "public, max-age=300"})

    @app.post("/api/items", summary="Add an item (needs X-API-Key)", status_code=201)
    async def add_item(id: str = Form(..., description="new item id"),
                       caption: str | None = Form(None), metadata: str | None = Form(None, description="JSON object"),
                       image: UploadFile | None = File(None), target: str | None = Form(None),
                       x_api_key: str | None = Header(None)) -> dict[str, Any]:
        from starlette.concurrency import run_in_threadpool

        svc.check_key(x_api_key)
        data = await _read_upload(image) if image is not None else None
        return await run_in_threadpool(svc.add_item, id, caption, data, metadata, target)

    @app.delete("/api/items/{item_id}", summary="Delete an item (needs X-API-Key)")
    def delete_item(item_id: str, target: str | None = Query(None), x_api_key: str | None = Header(None)) -> dict[str, Any]:
        svc.check_key(x_api_key)
        return svc.delete_item(item_id, target)

    return app
