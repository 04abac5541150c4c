"""The JSON routes of the HTTP service (an ``APIRouter``; :func:`distilhash.serve.app.create_app`
mounts it over a :class:`~distilhash.serve.engine.SearchService` kept in ``app.state.service``).

Paths come from :mod:`distilhash.serve.routes`, answers are the models of
:mod:`distilhash.serve.schemas` (``/openapi.json`` documents each), refusals are
:class:`~distilhash.serve.schemas.Refusal`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from distilhash.serve import routes
from distilhash.serve.refusal import ServiceError
from distilhash.serve.responses import FastJSONResponse
from distilhash.serve.schemas import (Deleted, Health, ItemAnswer, Refusal, SearchAnswer, SimilarAnswer, StartInfo,
                                      Stats)

if TYPE_CHECKING:
    from distilhash.serve.engine import SearchService
    from distilhash.serve.start import StartPage

__all__ = ["router"]

#: the refusals every JSON route may answer (the guard's 400/408/413/421/503 and the app's)
_REFUSALS: dict[int | str, dict[str, Any]] = {code: {"model": Refusal, "description": what} for code, what in (
    (400, "bad input (the message names the field)"), (404, "no such item or route"),
    (413, "upload too large"), (422, "invalid field"), (500, "the service failed"))}
_WRITE_REFUSALS = {**_REFUSALS, 401: {"model": Refusal, "description": "no API key"},
                   403: {"model": Refusal, "description": "wrong API key, or the service is read-only"},
                   409: {"model": Refusal, "description": "the id is already stored"}}

router = APIRouter(responses=_REFUSALS)
#: answers built from the service's dicts: only the keys the service set are sent (byte-identical)
_answer: dict[str, Any] = {"response_model_exclude_unset": True}


def _svc(request: Request) -> SearchService:
    return request.app.state.service


async def _read_upload(svc: SearchService, upload: UploadFile, field: str) -> bytes:
    cap = svc.config.max_upload_bytes
    data = await upload.read(cap + 1)
    if len(data) > cap:
        raise ServiceError(413, f"{field}: the upload is larger than the limit of {cap:,} bytes ({cap / 2**20:.1f} MB)")
    return data


@router.get(routes.HEALTH, summary="Liveness and item counts", response_model=Health, **_answer)
def health(request: Request) -> dict[str, Any]:
    return _svc(request).health()


@router.get(routes.STATS, summary="Counts, bits, model, teacher, latency percentiles, cache", response_model=Stats, **_answer)
def stats(request: Request) -> dict[str, Any]:
    return _svc(request).stats()


@router.get(routes.START, summary="A sample of the index's items and example queries taken from its captions",
            response_model=StartInfo, **_answer)
def start_page(request: Request) -> dict[str, Any]:
    start: StartPage = request.app.state.start
    return start.info()


@router.get(routes.SEARCH, summary="Search by text", response_model=SearchAnswer, **_answer)
async def search_text(request: Request, q: str = Query(..., description="query text"),
                      k: int = Query(10, ge=1, description="results to return"),
                      direction: str | None = Query(None, description="t2i (default when an image index is served) or t2t")) -> Response:
    # the hot path: the service's answer is sent as it is (the tests hold it to SearchAnswer)
    return FastJSONResponse(await _svc(request).search_text_async(q, k, direction))


@router.post(routes.SEARCH_IMAGE, summary="Search by an uploaded image", response_model=SearchAnswer, **_answer)
async def search_image(request: Request, file: UploadFile = File(..., description="image file"), k: int = Form(10, ge=1),
                       direction: str | None = Form(None, description="i2t (default when a text index is served) or i2i")) -> dict[str, Any]:
    svc = _svc(request)
    data = await _read_upload(svc, file, "file")
    return await run_in_threadpool(svc.search_image, data, k, direction)


@router.get(routes.SIMILAR, summary="More like this: the items nearest to a stored item", response_model=SimilarAnswer, **_answer)
def similar(request: Request, id: str = Query(..., description="item id"), k: int = Query(10, ge=1),
            target: str | None = Query(None, description="image or text index")) -> dict[str, Any]:
    return _svc(request).similar(id, k, target)


@router.get(routes.THUMBNAIL, summary="An item's thumbnail (from the index's own store)",
            response_class=Response, responses={200: {"content": {"image/webp": {}, "image/png": {}}}})
def thumbnail(request: Request, item_id: str, target: str | None = Query(None)) -> Response:
    mime, data = _svc(request).thumbnail(item_id, target)
    return Response(data, media_type=mime, headers={"Cache-Control": "public, max-age=300"})


@router.get(routes.ITEM, summary="One item with its metadata", response_model=ItemAnswer, **_answer)
def get_item(request: Request, item_id: str,
             target: str | None = Query(None, description="image or text index")) -> dict[str, Any]:
    return _svc(request).get_item(item_id, target)


@router.post(routes.ITEMS, summary="Add an item (needs X-API-Key)", status_code=201, response_model=ItemAnswer,
             responses=_WRITE_REFUSALS, **_answer)
async def add_item(request: Request, id: str = Form(..., description="new item id"),
                   caption: str | None = Form(None), metadata: str | None = Form(None, description="JSON object"),
                   image: UploadFile | None = File(None), target: str | None = Form(None),
                   x_api_key: str | None = Header(None)) -> dict[str, Any]:
    svc = _svc(request)
    svc.check_key(x_api_key)
    data = await _read_upload(svc, image, "image") if image is not None else None
    return await run_in_threadpool(svc.add_item, id, caption, data, metadata, target)


@router.delete(routes.ITEM, summary="Delete an item (needs X-API-Key)", response_model=Deleted, responses=_WRITE_REFUSALS,
               **_answer)
def delete_item(request: Request, item_id: str, target: str | None = Query(None),
                x_api_key: str | None = Header(None)) -> dict[str, Any]:
    svc = _svc(request)
    svc.check_key(x_api_key)
    return svc.delete_item(item_id, target)
