"""The service's refusal type, on its own so that the config and the validators can both use it."""

from __future__ import annotations

__all__ = ["ServiceError"]


class ServiceError(Exception):
    """A request the service refuses: ``status`` (HTTP code) and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
