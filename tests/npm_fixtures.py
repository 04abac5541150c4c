"""Tiny npm package tarballs for the tests of the icon pair sources (the real layout: members under ``package/``)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path


def write_tarball(path: Path, files: dict[str, bytes]) -> Path:
    """A ``.tgz`` at ``path`` holding ``package/NAME`` for every ``NAME: bytes`` of ``files``."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path
