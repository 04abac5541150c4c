"""A small generic registry: ``@REG.register("name")`` then ``REG.create("name", **kw)``.

Unknown names are answered with the list of valid ones, as in timm's ``create_model``.
A registry may be *lazy*: ``Registry(family, modules={"name": "package.module"})`` declares which
module registers each name, and that module is imported the first time the name is asked for
(so importing the registry imports no heavy code). Methods, teachers, dataset sources and
students all use this one mechanism.

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
    >>> lazy = Registry("codec", modules={"json": "json"})  # imported when "json" is first needed
    >>> "json" in lazy, lazy.declared()
    (True, ['json'])
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from distilhash.errors import ConfigError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories (classes or functions) of one family; ``modules`` declares lazy entries."""

    def __init__(self, family: str, modules: Mapping[str, str] | None = None) -> None:
        self.family = family
        self._entries: dict[str, Callable[..., T]] = {}
        self._modules: dict[str, str] = dict(modules or {})

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory`` under ``name`` (names are unique per family)."""

        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries and self._entries[name] is not factory:
                raise ConfigError(f"{self.family} {name!r} is already registered")
            self._entries[name] = factory
            return factory

        return deco

    def unregister(self, name: str) -> None:
        """Remove ``name`` (e.g. an entry a test registered for its own duration)."""
        self._entries.pop(name, None)

    def _load(self, name: str) -> None:
        """Import the module declared for ``name`` (if any and not registered yet)."""
        module = self._modules.get(name)
        if module is not None and name not in self._entries:
            importlib.import_module(module)

    def load_all(self) -> None:
        """Import every declared module that exists (a missing one is skipped; a broken one raises)."""
        for module in sorted(set(self._modules.values())):
            if importlib.util.find_spec(module) is not None:
                importlib.import_module(module)

    def get(self, name: str) -> Callable[..., T]:
        """Return the factory registered under ``name``; unknown names list the valid ones."""
        self._load(name)
        if name not in self._entries:
            self.load_all()
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(self.declared()) or "(none registered)"
            raise ConfigError(f"unknown {self.family} {name!r}; valid names: {valid}") from None

    def get_class(self, name: str, base: type) -> type:
        """The entry ``name``, which must be a class deriving from ``base`` (a ConfigError otherwise)."""
        entry = self.get(name)
        if not (isinstance(entry, type) and issubclass(entry, base)):
            raise ConfigError(f"{self.family} {name!r} is registered as {entry!r}, which is not a {base.__name__} subclass")
        return entry

    def create(self, name: str, /, *args: Any, **kwargs: Any) -> T:
        """Instantiate the entry ``name`` with the given arguments."""
        return self.get(name)(*args, **kwargs)

    def names(self) -> list[str]:
        """Sorted list of every name (imports the declared modules)."""
        self.load_all()
        return sorted(self._entries)

    def declared(self) -> list[str]:
        """Sorted names registered or declared, without importing anything."""
        return sorted(set(self._entries) | set(self._modules))

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._modules
