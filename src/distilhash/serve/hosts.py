"""Which ``Host`` and ``Origin`` a request may carry: the defence against DNS rebinding.

A page on another site can make the browser resolve its own name (``evil.example``) to
127.0.0.1 and then read the loopback service as if it were same-origin: the browser sends
``Host: evil.example:8000``. A service bound to loopback therefore answers only requests whose
``Host`` names it by a loopback name (``127.0.0.1``, ``localhost``, ``[::1]``, any port) or a name
given with ``--allowed-host`` (real deployments behind a proxy or on a LAN name); others get 421.
A request carrying an ``Origin`` whose host is not allowed (a cross-site ``fetch`` or form post)
gets 403. Requests without ``Host`` (HTTP/1.0 tools) are not browsers and pass.

A service bound to another address without ``--allowed-host`` checks nothing (it is reachable by
any name anyway); ``--allowed-host '*'`` turns the check off explicitly.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["HostPolicy", "LOOPBACK_NAMES", "default_allowed_hosts", "host_name", "is_loopback"]

#: names a loopback service always answers to
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    """Whether a bind address is loopback only (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(value: str) -> str:
    """The host part of a ``Host`` header value, lower-case (``[::1]:8000`` -> ``::1``, ``A.b:80`` -> ``a.b``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    name, sep, port = value.rpartition(":")
    return name if sep and port.isdigit() and ":" not in name else value


def default_allowed_hosts(bind_host: str, extra: list[str] | None = None) -> list[str] | None:
    """The allow-list for a service bound to ``bind_host``: None = no check.

    Loopback binding: the loopback names, the bind address and ``extra``. Another binding: ``extra``
    (with the loopback names) when given, else None. ``"*"`` in ``extra``: None.
    """
    extra = [h for h in (extra or []) if h]
    if "*" in extra:
        return None
    if not extra and not is_loopback(bind_host):
        return None
    return sorted({*LOOPBACK_NAMES, host_name(bind_host), *(host_name(h) for h in extra)})


@dataclass(frozen=True)
class HostPolicy:
    """An allow-list of host names (port ignored) for ``Host`` and ``Origin``."""

    allowed: frozenset[str]

    @classmethod
    def of(cls, names: list[str] | None) -> "HostPolicy | None":
        return None if not names else cls(frozenset(host_name(n) for n in names))

    def refusal(self, host: bytes | None, origin: bytes | None) -> tuple[int, str] | None:
        """(status, message) when the request's ``Host`` or ``Origin`` is not allowed, else None."""
        if host is not None:
            name = host_name(host.decode("latin-1"))
            if name not in self.allowed:
                return 421, ("this service answers only for the host names " + ", ".join(sorted(self.allowed)) +
                             " (a guard against DNS rebinding); start it with --allowed-host NAME to serve another name")
        if origin is not None:
            text = origin.decode("latin-1").strip()
            parts = urlsplit(text) if text != "null" else None
            if parts is None or parts.scheme not in ("http", "https") or (parts.hostname or "") not in self.allowed:
                return 403, "cross-origin requests are refused: the Origin header names a site this service does not serve"
        return None
