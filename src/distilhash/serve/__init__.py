"""HTTP search service and web page over built indexes (see docs/serve.md).

``create_app`` (FastAPI application), ``start_service`` (blocking uvicorn server, used by
``distilhash serve`` and the demo), ``write_thumbnails`` (the thumbnail store inside an index
directory). Importing this package imports neither FastAPI nor torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "start_service", "write_thumbnails"]


def create_app(*args: Any, **kwargs: Any):
    """See :func:`distilhash.serve.app.create_app`."""
    from distilhash.serve.app import create_app as _create

    return _create(*args, **kwargs)


def start_service(*args: Any, **kwargs: Any) -> None:
    """See :func:`distilhash.serve.server.start_service`."""
    from distilhash.serve.server import start_service as _start

    _start(*args, **kwargs)


def write_thumbnails(*args: Any, **kwargs: Any) -> int:
    """See :func:`distilhash.serve.thumbs.write_thumbnails`."""
    from distilhash.serve.thumbs import write_thumbnails as _write

    return _write(*args, **kwargs)
