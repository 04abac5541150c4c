"""The JSON API of the HTTP service: each route and the pydantic model of the answer it sends
(``/openapi.json`` documents them). :func:`distilhash.serve.app.create_app` mounts :data:`router`
over a :class:`~distilhash.serve.engine.SearchService` kept in ``app.state.service``.

Paths come from :mod:`distilhash.serve.routes`. The service builds plain dicts; a route passes
its dict through the answer model (``extra="forbid"``: a key the model does not declare is a 500,
caught by the tests, never a silent drift of the documented contract) and serializes only the keys
that were set, so the bytes a client receives are the service's dict, unchanged. The text search
route, the hot path, skips the re-validation and sends the dict as it is; the tests check its
answers against :class:`SearchAnswer`. Refusals (4xx/5xx) are :class:`Refusal` everywhere: the
application's handlers and the request guard (:mod:`distilhash.serve.guard`) both answer through
:func:`distilhash.serve.responses.refusal`.

A new endpoint is three files: its path in :mod:`distilhash.serve.routes` (and a row of ``TABLE``
when the page calls it or it writes), its answer model (in :data:`ANSWER_MODELS`) and route here,
and the ``SearchService`` method it calls (``engine.py`` or ``items.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from distilhash.serve import routes
from distilhash.serve.refusal import ServiceError
from distilhash.serve.responses import FastJSONResponse
from distilhash.serve.validate import shown

if TYPE_CHECKING:
    from distilhash.serve.engine import SearchService
    from distilhash.serve.start import StartPage

__all__ = ["router", "Refusal", "Health", "Stats", "StartInfo", "SearchAnswer", "SimilarAnswer", "ItemAnswer", "Deleted",
           "ResultItem", "Match", "ModelInfo", "DistanceInfo", "ANSWER_MODELS"]


# ---- the answers (what /openapi.json documents) ----

class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Refusal(_Answer):
    """Every refusal: the message names the field and what was expected (no Python reprs)."""

    error: str = Field(description="what was wrong, in plain words")
    status: int = Field(description="the HTTP status, repeated")


class Health(_Answer):
    status: str = Field(description="'ok' while the service answers")
    indexes: dict[str, int] = Field(description="modality (image / text) -> items in its index")


class ModelInfo(_Answer):
    """What encodes a target's queries."""

    method: str
    bits: int
    model_dir: str | None = Field(description="the model directory's name (not its path)")
    teacher: str | None = Field(description="teacher spec the model was distilled from")


class DistanceInfo(_Answer):
    """What an answer's distances are (:func:`distilhash.serve.match.distance_info`)."""

    kind: str = Field(description="hamming | adc-ip | adc-l2")
    bits: int
    lower_is_closer: bool
    label: str


class LatencySummary(_Answer):
    count: int
    window: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float


class IndexStats(_Answer):
    count: int
    kind: str = Field(description="binary | pq")
    bits: int
    backend: str
    model: ModelInfo
    thumbnails: int
    writable: bool
    distance: DistanceInfo


class CacheInfo(_Answer):
    capacity: int
    size: int
    hits: int
    misses: int


class TextBatches(_Answer):
    batches: int
    texts: int


class SearchBatches(_Answer):
    batches: int
    queries: int
    workers_per_index: dict[str, int]


class StaticTextInfo(_Answer):
    dir: str
    fingerprint: str
    tokens: int
    width: int
    fit_cosine_mean: float | None


class Stats(_Answer):
    uptime_s: float
    pid: int
    indexes: dict[str, IndexStats] = Field(description="modality -> its index")
    latency_ms: dict[str, LatencySummary] = Field(description="stage (or 'http METHOD route') -> its recent timings")
    text_cache: CacheInfo
    text_batches: TextBatches
    search_batches: SearchBatches
    query_encoder: str = Field(description="auto | static | teacher")
    static_text: dict[str, StaticTextInfo] = Field(description="modality -> the static text encoder serving it")
    runtime: dict[str, bool] = Field(description="optional fast HTTP modules installed (orjson, uvloop, httptools)")
    errors_by_status: dict[int, int]
    limits: dict[str, Any] = Field(description="the ServiceConfig the service runs with (the API key left out)")


class SampleItem(_Answer):
    id: str
    caption: str | None
    thumbnail: str | None


class ExampleQuery(_Answer):
    query: str
    items: int = Field(description="captions holding the words")


class StartInfo(_Answer):
    """What the page shows before a query (:mod:`distilhash.serve.start`)."""

    items: int
    modality: str
    sample: list[SampleItem]
    examples: list[ExampleQuery]
    ways: list[str] = Field(description="how this service can be searched: text, image, similar")


class ResultItem(_Answer):
    id: str
    distance: float
    caption: str | None
    labels: Any = Field(description="the item's labels as stored (usually a list of strings), or null")
    metadata: dict[str, Any]
    thumbnail: str | None = Field(description="URL of its thumbnail, null without a thumbnail store")
    metadata_note: str | None = Field(None, description="present when stored metadata had to be repaired to be sent")


class Likeness(_Answer):
    """Do the words read like this collection's captions (:mod:`distilhash.query_encoders.weak_match`)."""

    rule: str
    score: float
    threshold: float
    weak: bool
    nearest_caption: float
    letters: float


class Match(_Answer):
    """The best hit next to the query's typical distance (:mod:`distilhash.serve.match`), and for text
    queries the calibrated caption-likeness note. Keys absent when their reference is not there."""

    best: float | None = None
    typical: float | None = None
    spread: float | None = None
    contrast: float | None = None
    sample: int | None = None
    sample_is_collection: bool | None = Field(None, description="the sample is every item (a collection of at most match_sample items)")
    threshold: float | None = Field(None, description="contrast below it: weak (2.0, or set from the collection's own captions)")
    threshold_rule: str | None = Field(None, description="fixed | own captions")
    weak: bool
    rule: str | None = None
    likeness: Likeness | None = None


class EncoderInfo(_Answer):
    name: str = Field(description="static | teacher | student: what turned the words into features")


class SearchAnswer(_Answer):
    """A text or image query's answer (``encoder`` only for text queries)."""

    query: str
    direction: str = Field(description="t2i | t2t | i2t | i2i")
    k: int
    results: list[ResultItem]
    took_ms: float
    timings_ms: dict[str, int | float | bool] = Field(description="stage -> milliseconds (cache_hit, batch: flags and counts)")
    encoder: EncoderInfo | None = None
    model: ModelInfo
    distance: DistanceInfo
    match: Match | None
    notes: list[str] = Field(description="plain-language caveats (a weak match)")
    partial: bool = Field(False, description="true when some shards had no live replica: the results cover the others only")
    missing_shards: list[int] = Field(default_factory=list, description="the shards left out of a partial answer")


class SimilarItem(_Answer):
    id: str
    caption: str | None


class SimilarAnswer(_Answer):
    """"More like this": the items nearest to a stored item."""

    query: str
    item: SimilarItem
    direction: str
    k: int
    results: list[ResultItem]
    timings_ms: dict[str, int | float | bool]
    match: Match | None
    distance: DistanceInfo
    model: ModelInfo
    partial: bool = Field(False, description="true when some shards had no live replica: the results cover the others only")
    missing_shards: list[int] = Field(default_factory=list, description="the shards left out of a partial answer")


class ItemAnswer(_Answer):
    id: str
    target: str = Field(description="the index holding it: image | text")
    caption: str | None
    labels: Any
    metadata: dict[str, Any]
    url: str
    thumbnail: str | None
    metadata_note: str | None = Field(None, description="present when stored metadata had to be repaired to be sent")


class Deleted(_Answer):
    deleted: str = Field(description="the id deleted (as stored)")
    target: str
    count: int = Field(description="items left in that index")


#: every JSON answer model (the openapi test checks each is documented)
ANSWER_MODELS: tuple[type[BaseModel], ...] = (Refusal, Health, Stats, StartInfo, SearchAnswer, SimilarAnswer,
                                              ItemAnswer, Deleted)


# ---- the routes ----

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


@router.head(routes.HEALTH, include_in_schema=False)
def health_head(request: Request) -> Response:
    """``HEAD /api/health`` (uptime monitors, ``curl -I``): 200 while the service answers, no body."""
    _svc(request).health()
    return Response(status_code=200)


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
async def search_image(request: Request, file: UploadFile = File(..., description="image file"),
                       k: int | None = Form(None, ge=1, description="results to return (default 10)"),
                       direction: str | None = Form(None, description="i2t (default when a text index is served) or i2i"),
                       k_url: int | None = Query(None, alias="k", ge=1, description="k in the address instead of the form"),
                       direction_url: str | None = Query(None, alias="direction", description="direction in the address")
                       ) -> dict[str, Any]:
    svc = _svc(request)
    k_used = _form_or_url("k", k, k_url)
    direction_used = _form_or_url("direction", direction, direction_url)
    data = await _read_upload(svc, file, "file")
    return await run_in_threadpool(svc.search_image, data, 10 if k_used is None else k_used, direction_used)


def _form_or_url(name: str, form: Any, url: Any) -> Any:
    """A parameter sent as a form field or in the address (``?k=5``: it was silently ignored before); both and
    different: a 400 naming the two values."""
    if form is not None and url is not None and form != url:
        raise ServiceError(400, f"{name}: sent twice with different values (form field {shown(str(form))}, address "
                                f"{shown(str(url))}); send it once")
    return form if form is not None else url


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
