"""The HTTP answers of the service as pydantic models: what ``/openapi.json`` documents.

Each route of :mod:`distilhash.serve.app` declares one of these as its ``response_model``. The
service (:class:`~distilhash.serve.engine.SearchService`, its Python API) builds plain dicts; the
routes pass them through the model (``extra="forbid"``: a key the model does not declare is a
500, caught by the tests, never a silent drift of the documented contract) and serialize only
the keys that were set, so the bytes a client receives are the service's dict, unchanged. The
text search route, the hot path, skips the re-validation and sends the dict as it is; the tests
check its answers against :class:`SearchAnswer`.

Refusals (4xx/5xx) are :class:`Refusal` everywhere: the application's handlers and the request
guard (:mod:`distilhash.serve.guard`) both answer through :func:`distilhash.serve.responses.refusal`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Refusal", "Health", "Stats", "StartInfo", "SearchAnswer", "SimilarAnswer", "ItemAnswer", "Deleted",
           "ResultItem", "Match", "ModelInfo", "DistanceInfo", "ANSWER_MODELS"]


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
