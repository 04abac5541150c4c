"""A small served world for the service tests: a toy teacher and method, an image index and a
text index over a tiny dataset, with thumbnails written by ``write_thumbnails``."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distilhash.codes import Encoded, pack_bits
from distilhash.data import ArrayImageStore, CrossModalDataset
from distilhash.config_dataclass import ConfigData
from distilhash.methods.base import METHODS, MethodBase
from distilhash.teachers.common import to_uint8_images
from distilhash.teachers.base import TeacherBase
from distilhash.teachers.registry import TEACHERS

WORDS = ["cat", "dog", "car", "tree", "boat", "fish", "star", "moon"]
# one primary colour per word: an image of word j is (mostly) COLOURS[j], so image and text
# queries of the same word land on the same codes
COLOURS = np.array([[230, 30, 30], [30, 230, 30], [30, 30, 230], [230, 230, 30],
                    [230, 30, 230], [30, 230, 230], [240, 240, 240], [20, 20, 20]], np.uint8)


class ServeToyTeacher(TeacherBase):
    """Texts: bag of WORDS. Images: similarity of the mean colour to each word's colour."""

    name = "serve-toy"
    width = len(WORDS)

    def __init__(self, arg=None, **_):
        self.text_calls = 0

    def encode_texts(self, texts, batch_size=256, progress=False):
        self.text_calls += 1
        out = np.array([[1.0 if w in t.lower().split() else 0.0 for w in WORDS] for t in texts], np.float32) + 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def encode_images(self, images, batch_size=64, progress=False):
        # the real teachers' preprocessing (shorter side to 224, centre crop): the step whose
        # memory an image bomb would blow up, so the service tests exercise it too
        pixels = to_uint8_images(list(images), 224)
        mean = pixels.reshape(len(pixels), -1, 3).astype(np.float32).mean(1)
        d = np.linalg.norm(mean[:, None, :] - COLOURS[None].astype(np.float32), axis=2)
        out = (d == d.min(axis=1, keepdims=True)).astype(np.float32) + 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@dataclass
class _SignConfig(ConfigData):
    n_bits: int = 8


class ServeToySign(MethodBase):
    """sign(features - 0.1) as 8-bit codes (queries and database alike)."""

    name = "serve-toy-sign"
    config_class = _SignConfig

    def __init__(self, **config):
        super().__init__(**config)
        self.teacher_spec_, self.feature_width_ = "serve-toy", len(WORDS)  # nothing to fit

    def encode(self, modality, features, role="database"):
        return Encoded("binary", pack_bits(np.asarray(features) - 0.1), 8)

    def state_tensors(self):
        return {}

    def set_state(self, tensors, meta, directory):
        pass


if "serve-toy" not in TEACHERS:
    TEACHERS.register("serve-toy")(ServeToyTeacher)
if "serve-toy-sign" not in METHODS:
    METHODS.register("serve-toy-sign")(ServeToySign)


def make_world(root: Path, n: int = 40, seed: int = 0) -> dict:
    """A tiny dataset (one or two words per item, image coloured by the first word), a model dir,
    an image index and a text index with dataset metadata, and thumbnails for both."""
    from distilhash.index import create_index
    from distilhash.serve.thumbs import write_thumbnails

    rng = np.random.default_rng(seed)
    first = np.arange(n) % len(WORDS)
    texts, pixels = [], np.zeros((n, 16, 16, 3), np.uint8)
    for i in range(n):
        words = [WORDS[first[i]]] + ([WORDS[(first[i] + 1 + i // len(WORDS)) % len(WORDS)]] if i >= len(WORDS) else [])
        texts.append(" ".join(words))
        noise = rng.integers(-12, 13, (16, 16, 3))
        pixels[i] = np.clip(COLOURS[first[i]].astype(int) + noise, 0, 255)
    labels = np.zeros((n, len(WORDS)), np.uint8)
    labels[np.arange(n), first] = 1
    ds = CrossModalDataset(name="tinyserve", ids=[f"it{i:03d}" for i in range(n)], texts=texts, labels=labels,
                           label_names=list(WORDS), images=ArrayImageStore(pixels))
    model = root / "model"
    model.mkdir(parents=True)
    ServeToySign().save(model)
    teacher, method = ServeToyTeacher(), ServeToySign()
    dirs = {}
    for modality in ("image", "text"):
        feats = teacher.encode_images(list(pixels)) if modality == "image" else teacher.encode_texts(texts)
        codes = method.encode(modality, feats, "database")
        d = root / f"ix-{modality}"
        with create_index(d, kind="binary", n_bits=8, model_dir=model, teacher="serve-toy", extra={"modality": modality}) as idx:
            idx.add(ds.ids, codes, [{"dataset": ds.name, "row": i, "caption": texts[i],
                                     "labels": [WORDS[first[i]]]} for i in range(n)])
        write_thumbnails(d, datasets={ds.name: ds}, progress=False)
        dirs[modality] = d
    return {"dataset": ds, "model": model, "image_index": dirs["image"], "text_index": dirs["text"], "first": first}


def make_app(root: Path, **options):
    """The service's application over a fresh :func:`make_world` in ``root`` (both indexes); ``options`` go to ``create_app``."""
    from distilhash.serve.app import create_app

    world = make_world(root)
    return create_app([world["image_index"], world["text_index"]], **options)


def png_bytes(colour, size: int = 24, fmt: str = "PNG") -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), tuple(int(c) for c in colour)).save(buf, format=fmt)
    return buf.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fixtures_python(code: str) -> tuple[list[str], dict[str, str]]:
    """``(argv, env)`` running ``code`` in a fresh Python with this checkout's src and the toy teacher and
    method registered (``serve_fixtures`` imported first): for tests of a whole server process."""
    import os
    import sys

    tests = Path(__file__).resolve().parent
    script = f"import sys; sys.path.insert(0, {str(tests)!r})\nimport serve_fixtures\n{code}\n"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests.parent / "src"), os.environ.get("PYTHONPATH", "")])}
    return [sys.executable, "-c", script], env


class ServerThread:
    """uvicorn in a background thread on loopback; stops when ``stop`` is called."""

    def __init__(self, app, **options) -> None:
        import uvicorn

        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", **options))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def make_weak_match(world: dict, directory: Path) -> Path:
    """A weak-match calibration of the toy world (as pipeline/weak_match.py makes one): reference = the
    dataset's captions, real = the same captions."""
    from distilhash.pipeline.weak_match import FALSE_ALARM
    from distilhash.query_encoders.weak_match import CaptionReference, CharTrigrams, threshold_at

    texts = list(world["dataset"].texts)
    teacher = ServeToyTeacher()
    ref = CaptionReference(teacher.encode_texts(texts), CharTrigrams.fit(texts))
    ref.threshold = threshold_at(ref.score(ref.signals(texts, teacher.encode_texts(texts))), FALSE_ALARM)
    return ref.save(directory)
