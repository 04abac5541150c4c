"""The JSON response every answer of the HTTP service uses (the app's and the request guard's), and
the one refusal answer (:class:`~distilhash.serve.api.Refusal`)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from distilhash.serve.jsonsafe import dumps, repair_answer

__all__ = ["FastJSONResponse", "refusal"]


class FastJSONResponse(JSONResponse):
    """JSON answer (orjson when installed); content the encoder refuses (e.g. an item stored
    earlier with a 70-digit integer in its metadata) is repaired and served with a note."""

    def render(self, content: Any) -> bytes:
        try:
            return dumps(content)
        except (TypeError, ValueError, RecursionError):
            return dumps(repair_answer(content))


def refusal(status: int, message: str, headers: dict[str, str] | None = None) -> FastJSONResponse:
    """The :class:`~distilhash.serve.api.Refusal` answer ``{"error": message, "status": status}``."""
    return FastJSONResponse({"error": str(message), "status": int(status)}, status_code=status, headers=headers)
