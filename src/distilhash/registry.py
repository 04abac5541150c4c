"""A small generic registry: ``@REG.register("name")`` then ``REG.create("name", **kw)``.

Unknown names are answered with the list of valid ones, as in timm's ``create_model``.

Example:
    >>> from distilhash.registry import Registry
    >>> shapes = Registry("shape")
    >>> @shapes.register("square")
    ... def square(side: float = 1.0) -> float:
    ...     return side * side
    >>> shapes.create("square", side=3.0)
    9.0
    >>> shapes.names()
    ['square']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from distilhash.errors import ConfigError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories (classes or functions) of one family."""

    def __init__(self, family: str) -> None:
        self.family = family
        self._entries: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory`` under ``name`` (names are unique per family)."""

        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries and self._entries[name] is not factory:
                raise ConfigError(f"{self.family} {name!r} is already registered")
            self._entries[name] = factory
            return factory

        return deco

    def get(self, name: str) -> Callable[..., T]:
        """Return the factory registered under ``name``; unknown names list the valid ones."""
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries)) or "(none registered)"
            raise ConfigError(f"unknown {self.family} {name!r}; valid names: {valid}") from None

    def create(self, name: str, /, *args: Any, **kwargs: Any) -> T:
        """Instantiate the entry ``name`` with the given arguments."""
        return self.get(name)(*args, **kwargs)

    def names(self) -> list[str]:
        """Sorted list of registered names."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
