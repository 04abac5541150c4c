"""LCDH as a registered method: offline attention teacher, lightweight raw-input student, online stream.

Capabilities: ``input="raw"`` (the student reads pixels and words), ``streaming``.

``fit(features, split, dataset=..., store=None, checkpoint_dir=None, on_chunk=None)``:

1. train the offline teacher on ``features`` of ``split.fit`` with label similarity (epoch kept by
   ``split.val``), see :mod:`.teacher_fit`;
2. build the BoW vocabulary from the texts of ``split.fit`` and the student (CNN on pixels at the
   dataset's render size + BoW MLP, each with an FC layer to L bits);
3. stream ``split.retrieval`` in chunks (:mod:`.stream`): update the student against the teacher
   codes of the chunk and the frozen codes of earlier chunks, then append the chunk's codes to
   ``store`` — a :class:`~.store.MemoryCodeStore` unless the caller passes another (the stream
   layer passes a durable one that writes the codes to the index engine, see
   :func:`distilhash.pipeline.stream.fit_stream`; this method never writes an index) — with a
   checkpoint of the model in ``checkpoint_dir`` after every chunk, from which an interrupted
   stream resumes (a durable store is asked to ``restore`` what it already holds).
   ``on_chunk(report, method)`` is called after each chunk.

Encoding: queries use the current student on raw inputs (``encode_raw("image", uint8 [n, S, S, 3])``,
``encode_raw("text", list[str])``); :meth:`encode_dataset` returns the frozen codes for database
items that were streamed (never recomputed) and the current student's codes otherwise. Teacher
features are refused by ``encode`` (the student does not need the teacher).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from distilhash.codes import Encoded, pack_bits
from distilhash.errors import ConfigError, DataError, FeatureError
from distilhash.methods.base import METHODS, Capabilities, MethodBase
from distilhash.methods.lcdh.config import LCDHConfig
from distilhash.epochs import budget_info, combine_budgets

__all__ = ["LCDHMethod"]

STATE_FILE = "lcdh_state.json"
CODES_FILE = "frozen_codes.safetensors"
STREAM_FILE = "stream.json"


@METHODS.register("lcdh")
class LCDHMethod(MethodBase):
    """LCDH (see module docstring). Hyperparameters: :class:`LCDHConfig`."""

    name = "lcdh"
    config_class = LCDHConfig
    capabilities: ClassVar[Capabilities] = Capabilities(input="raw", streaming=True)
    tensor_library = "torch"

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.student_: Any = None
        self.teacher_net_: Any = None
        self.store_: Any = None
        self.chunk_reports_: list[dict[str, Any]] = []
        self.image_init_info_: dict[str, Any] = {"image_init": "random"}

    def _is_fitted(self) -> bool:
        return self.student_ is not None

    # ------------------------------------------------------------------ building blocks
    def _image_size(self, dataset) -> int:
        if self.config.image_size:
            return int(self.config.image_size)
        size = dataset.images.size  # image stores with one render size have it
        if size is None:
            raise ConfigError(f"dataset {dataset.name!r} has no fixed render size; set image_size (e.g. --set image_size=64)")
        return size

    def _build_student(self, vocab_size: int):
        from distilhash.methods.lcdh.nets import LCDHStudent
        from distilhash.students import create_image_student, create_text_student

        c = self.config
        image = create_image_student(c.image_net, image_size=self.image_size_, channels=list(c.image_channels), dropout=c.dropout,
                                     stem=c.image_stem, patch=c.image_patch, until=c.lite0_until,
                                     trainable_from=c.lite0_trainable_from)
        text = create_text_student(c.text_net, vocab_size=vocab_size, hidden=c.text_hidden, dropout=c.dropout)
        return LCDHStudent(image, text, c.n_bits, c.hash_norm)

    def _init_image(self) -> dict[str, Any]:
        """Warm-start the student's CNN trunk as ``config.image_init`` says; returns what was loaded."""
        from distilhash.students.pretrain import StudentPretrainConfig, ensure_pretrained, load_pretrained_trunk

        c = self.config
        if c.image_init == "random":
            return {"image_init": "random"}
        if c.image_net == "lite0":  # ImageNet weights: the packaged file, or pretrained:PATH (a Lite0 .pth)
            path = c.image_init.split(":", 1)[1] if ":" in c.image_init else None
            return {**self.student_.image_net.load_imagenet(path), **self.student_.image_net.parameter_counts()}
        if c.image_net != "small-cnn":
            raise ConfigError(f"image_init={c.image_init!r} warm-starts the small-cnn trunk; image_net is {c.image_net!r}")
        if c.image_init == "pretrained":
            pc = StudentPretrainConfig(image_size=self.image_size_, channels=list(c.image_channels), stem=c.image_stem,
                                       patch=c.image_patch)
            directory = ensure_pretrained(pc, progress=c.progress is not False)
        else:
            directory = c.image_init.split(":", 1)[1]
        state, info = load_pretrained_trunk(directory)
        pc = info.get("config", {})
        want = {"image_size": self.image_size_, "channels": list(c.image_channels), "stem": c.image_stem, "patch": c.image_patch}
        got = {k: pc.get(k) for k in want}
        if got != want:
            raise ConfigError(f"student pretraining {directory} has trunk {got}, but this lcdh student is {want}; "
                              "set image_channels / image_stem / image_patch / image_size to match or pretrain another")
        self.student_.image_net.load_state_dict(state)
        return {"image_init": c.image_init, "directory": str(directory), "pretrain_key": info.get("key"),
                "pretrain_objective": pc.get("objective"), "pretrain_kept_epoch": info.get("kept_epoch"),
                "pretrain_corpus": info.get("corpus"), "pretrain_last_val": (info.get("history") or [{}])[-1]}

    def _optimizer(self):
        """Adam over the student; the image trunk's learning rate is ``lr * image_lr_scale``."""
        import torch

        c = self.config
        trunk = [p for p in self.student_.image_net.parameters() if p.requires_grad]
        ids = {id(p) for p in trunk}
        rest = [p for p in self.student_.parameters() if id(p) not in ids and p.requires_grad]
        return torch.optim.Adam([{"params": trunk, "lr": c.lr * c.image_lr_scale}, {"params": rest, "lr": c.lr}],
                                lr=c.lr, weight_decay=c.weight_decay)

    def _bow(self, texts=None, dataset=None, rows=None) -> np.ndarray:
        """BoW rows from strings, or from a dataset's rows (its texts, else its stored ``bow``)."""
        if texts is None:
            if dataset.texts is not None:
                texts = [dataset.texts[int(i)] for i in rows]
            elif dataset.bow is not None and self.vocab_ is None:
                return np.asarray(dataset.bow[np.asarray(rows)], np.float32)
            else:
                raise DataError(f"dataset {dataset.name!r} has neither texts nor a bow matrix for the text student")
        if self.vocab_ is None:
            raise ConfigError("this LCDH model was trained on a stored BoW matrix; it cannot encode raw strings")
        return self.vocab_.transform(texts)

    def _pixels(self, dataset, rows: np.ndarray) -> np.ndarray:
        return dataset.images.array(np.asarray(rows), self.image_size_)

    # ------------------------------------------------------------------ fit
    def fit(self, features, split, dataset=None, store=None, checkpoint_dir: str | Path | None = None, on_chunk=None,
            **_: Any) -> LCDHMethod:
        """Teacher offline, then the online stream over ``split.retrieval`` (module docstring).

        ``store``: where the chunks' codes go (default: memory); a durable store (``store.durable``)
        must offer ``restore(chunks)`` to report what an interrupted stream already stored.
        ``checkpoint_dir``: where the model is checkpointed after every chunk (and resumed from).
        """
        import torch

        from distilhash.methods.lcdh.store import MemoryCodeStore
        from distilhash.methods.lcdh.stream import absorb_chunk, chunk_plan
        from distilhash.methods.lcdh.teacher_fit import fit_teacher, teacher_codes
        from distilhash.students.vocab import Vocabulary
        from distilhash.progress import progress
        from distilhash.training.seed import seed_everything

        c = self.config
        if dataset is None:
            raise ConfigError("lcdh reads pixels and texts: fit(features, split, dataset=...) needs the dataset "
                              "(`distilhash train` and the benchmark harness pass it)")
        if len(dataset) != len(features):
            raise FeatureError(f"dataset {dataset.name!r} has {len(dataset)} items but the features have {len(features)}")
        if list(features.ids[:5]) != list(dataset.ids[:5]) or features.ids[-1] != dataset.ids[-1]:
            raise FeatureError(f"feature ids {features.ids[:2]}... do not match dataset {dataset.name!r} ids {dataset.ids[:2]}...")
        rng, gen = seed_everything(c.seed)
        t_start = time.perf_counter()
        self.image_size_ = self._image_size(dataset)
        ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
        stream = np.setdiff1d(split.retrieval, split.val) if c.stream_exclude_val else split.retrieval
        plan = chunk_plan(stream, c)
        ids_of = [[str(dataset.ids[int(r)]) for r in rows] for rows in plan]
        done, resumed = 0, None
        if ckpt is not None and (ckpt / STREAM_FILE).is_file():
            state = json.loads((ckpt / STREAM_FILE).read_text())
            if state.get("config") != self.config_dict() or state.get("split_hash") != split.hash:
                raise ConfigError(f"{ckpt} holds a stream with another config or split; use another directory "
                                  "or delete it to restart")
            self.load(ckpt)
            done = int(state["chunks_done"])
            resumed = {"from_chunk": done, "note": "optimizer state restarts on resume"}
        else:
            self._bind_features(features)
            teacher, tinfo = fit_teacher(features, split, c, gen, rng)
            self.teacher_net_ = teacher
            self.teacher_info_ = tinfo
            if dataset.texts is not None:
                self.vocab_ = Vocabulary.build([dataset.texts[int(i)] for i in split.fit], c.vocab_min_count,
                                               c.vocab_max_size, c.bow_weighting)
                vocab_size = len(self.vocab_)
            elif dataset.bow is not None:
                self.vocab_ = None
                vocab_size = int(dataset.bow.shape[1])
            else:
                raise DataError(f"dataset {dataset.name!r} has neither texts nor a bow matrix for the text student")
            self.student_ = self._build_student(vocab_size)
            self.image_init_info_ = self._init_image()
        self.teacher_net_.eval()
        store = store if store is not None else MemoryCodeStore(c.n_bits)
        if store.durable:
            # the chunk after the checkpoint may have reached the index before a crash
            found = store.restore([(k, plan[k], ids_of[k]) for k in range(min(done + 1, len(plan)))])
            if done < len(plan) and found == sum(len(p) for p in plan[: done + 1]):
                done += 1
                if resumed is not None:
                    resumed["note"] += f"; chunk {done - 1} was already stored (its student update is lost)"
        self.store_ = store
        optimizer = self._optimizer()
        reports: list[dict[str, Any]] = list(self.chunk_reports_)[:done]
        try:
            bar = progress(range(done, len(plan)), desc=f"lcdh stream {c.n_bits} bits", total=len(plan) - done,
                           enabled=c.progress)
            for k in bar:
                rows = plan[k]
                tb = teacher_codes(self.teacher_net_, features.image[rows], features.text[rows])
                pixels = self.student_.image_inputs(self._pixels(dataset, rows))  # a frozen prefix: once per chunk
                bow = self._bow(dataset=dataset, rows=rows)
                report = absorb_chunk(self.student_, optimizer, c, k, len(plan), rows, ids_of[k], pixels, bow, tb, store, rng)
                report.extra["bow_oov_rate"] = round(self.vocab_.last_oov_rate, 4) if self.vocab_ is not None else None
                self.chunk_reports_ = reports + [report.to_dict()]
                if ckpt is not None:
                    t = time.perf_counter()
                    self._checkpoint(ckpt, k + 1, split.hash)
                    report.extra["checkpoint_seconds"] = round(time.perf_counter() - t, 3)
                if on_chunk is not None:
                    on_chunk(report, self)
                reports.append(report.to_dict())
                self.chunk_reports_ = list(reports)
                bar.set_postfix(loss=f"{report.terms.get('total', float('nan')):.4f}", absorb=f"{report.absorb_seconds:.1f}s",
                                stored=report.stored_total)
        finally:  # the memory mirror stays usable; the index files are released
            bar.close()
            store.close()
        self.chunk_reports_ = reports
        absorb = [r["absorb_seconds"] for r in reports]
        self.fit_info_ = {
            **{k: v for k, v in self.teacher_info_.items() if k != "history"},
            "epoch_policy": ("teacher: early stopping on split.val teacher-code mAP; student: online, a fixed "
                             f"{c.epochs_per_chunk} epochs per chunk, no model selection"),
            "teacher_history": self.teacher_info_.get("history", []),
            "image_init": self.image_init_info_,
            "vocabulary": self.vocab_.info if self.vocab_ is not None else {"source": "dataset.bow"},
            "n_chunks": len(plan), "chunk_size": c.chunk_size,
            "store": store.describe(),
            "mean_absorb_seconds": float(np.mean(absorb)) if absorb else None,
            "chunks": reports, "resumed": resumed,
            "fit_seconds": time.perf_counter() - t_start,
            "budget": combine_budgets(
                {"teacher": self.teacher_info_["budget"],
                 "student": budget_info(len(plan) * c.epochs_per_chunk, len(reports) * c.epochs_per_chunk,
                                        len(reports) * c.epochs_per_chunk, None,
                                        note=f"online: one pass over {len(plan)} chunks of <= {c.chunk_size} streamed "
                                             f"items, {c.epochs_per_chunk} epochs on each chunk, no model selection")},
                note="offline teacher early-stopped on split.val, then the online student's fixed pass over the stream"),
        }
        return self

    def _checkpoint(self, ckpt: Path, chunks_done: int, split_hash: str) -> None:
        from distilhash.io_utils import atomic_write_json

        self.save(ckpt)
        atomic_write_json(ckpt / STREAM_FILE, {"chunks_done": chunks_done, "config": self.config_dict(),
                                               "split_hash": split_hash})

    # ------------------------------------------------------------------ encode
    def encode_raw(self, modality: str, items, role: str = "database") -> Encoded:
        """Current student codes for raw items: images (uint8 pixels ``[n, H, W, 3]``, or a list of PIL
        images / uint8 ``[H, W, 3]`` arrays, brought to the student's ``image_size_``) or a list of strings.

        Frozen database codes are served by :meth:`encode_dataset` (by dataset row).
        """
        from distilhash.methods.lcdh.stream import encode_student
        from distilhash.teachers.common import to_uint8_images

        self.check_encode_args(modality, role)
        if modality == "image":
            if isinstance(items, np.ndarray) and items.dtype != np.uint8:
                raise FeatureError(f"lcdh encodes images from uint8 pixels [n, H, W, 3], got {items.dtype} {items.shape}; "
                                   "its student does not use teacher features "
                                   "(use encode_dataset(modality, dataset, indices, role) for dataset items)")
            x = to_uint8_images(items, self.image_size_)
            bits = encode_student(self.student_, "image", x, self.config.eval_batch)
        else:
            if isinstance(items, str) or (isinstance(items, np.ndarray) and items.dtype.kind == "f"):
                raise FeatureError("lcdh encodes texts from a list of strings (its BoW vocabulary); "
                                   "its student does not use teacher features")
            bits = encode_student(self.student_, "text", self._bow(texts=[str(t) for t in items]), self.config.eval_batch)
        return Encoded("binary", pack_bits(bits > 0), self.n_bits)

    def encode_dataset(self, modality: str, dataset, indices, role: str = "database", batch: int = 2048) -> Encoded:
        """Codes of dataset rows: frozen stream codes for streamed database items, else the current student."""
        self.check_encode_args(modality, role)
        idx = np.asarray(indices, np.int64)
        if role == "database":
            frozen = self.frozen_codes(modality, idx)
            if frozen is not None:
                return frozen
        parts = []
        for s in range(0, len(idx), batch):
            rows = idx[s:s + batch]
            if modality == "image":
                parts.append(self.encode_raw("image", self._pixels(dataset, rows)).data)
            else:
                from distilhash.methods.lcdh.stream import encode_student

                bits = encode_student(self.student_, "text", self._bow(dataset=dataset, rows=rows), self.config.eval_batch)
                parts.append(pack_bits(bits > 0))
        data = np.concatenate(parts) if parts else np.zeros((0, (self.n_bits + 7) // 8), np.uint8)
        return Encoded("binary", data, self.n_bits)

    def frozen_codes(self, modality: str, rows: np.ndarray) -> Encoded | None:
        """Stored codes of dataset ``rows`` (None unless every row was streamed)."""
        store = self.store_
        if store is None or len(store) == 0:
            return None
        pos = {int(r): j for j, r in enumerate(store.rows)}
        where = [pos.get(int(r)) for r in rows]
        if any(w is None for w in where):
            return None
        kind = "teacher" if self.config.database_codes == "teacher" else modality
        bits = store.codes(kind)[np.asarray(where, np.int64)]
        return Encoded("binary", pack_bits(bits > 0), self.n_bits)

    def evaluate_online(self, dataset, labels: np.ndarray, query_idx: np.ndarray) -> dict[str, float]:
        """mAP@all of current-model queries against the codes stored so far, both directions.

        The database is ordered by dataset row (as ``split.retrieval``), so that Hamming ties break
        the same way as in the benchmark harness.
        """
        from distilhash.eval.metrics import evaluate

        rows = np.sort(self.store_.rows)
        db_img = self.frozen_codes("image", rows)
        db_txt = self.frozen_codes("text", rows)
        q_img = self.encode_dataset("image", dataset, query_idx, "query")
        q_txt = self.encode_dataset("text", dataset, query_idx, "query")
        yq, yd = labels[query_idx], labels[rows]
        return {"i2t": float(evaluate(q_img, db_txt, yq, yd, curves=False).map_all),
                "t2i": float(evaluate(q_txt, db_img, yq, yd, curves=False).map_all)}

    # ------------------------------------------------------------------ persistence
    def state_tensors(self) -> dict[str, Any]:
        """``teacher.*`` (the offline teacher net) and ``student.*``."""
        tensors = {f"teacher.{k}": v for k, v in self.teacher_net_.state_dict().items()}
        tensors.update({f"student.{k}": v for k, v in self.student_.state_dict().items()})
        return tensors

    def meta_extra(self) -> dict[str, Any]:
        return {"image_size": self.image_size_}

    def save(self, directory: str | Path) -> None:
        """The shared files (:meth:`MethodBase.save`) + ``lcdh_state.json`` + the frozen codes."""
        import torch

        from distilhash.io_utils import atomic_write_json
        from distilhash.training.checkpoint import save_tensors

        self.require_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {
            "image_size": self.image_size_,
            "vocab": self.vocab_.to_dict() if self.vocab_ is not None else None,
            "bow_width": int(self.student_.text_net.vocab_size),
            "teacher_info": dict(self.teacher_info_),
            "chunk_reports": self.chunk_reports_,
            "image_init": self.image_init_info_,
        }
        atomic_write_json(directory / STATE_FILE, state)
        if self.store_ is not None:
            arr = self.store_.arrays()
            save_tensors(directory / CODES_FILE, {k: torch.as_tensor(np.ascontiguousarray(v)) for k, v in arr.items()})
        super().save(directory)

    def set_state(self, tensors: dict[str, Any], meta: dict[str, Any], directory: Path) -> None:
        from distilhash.methods.lcdh.nets import AttentionTeacher
        from distilhash.methods.lcdh.store import MemoryCodeStore
        from distilhash.students.vocab import Vocabulary
        from distilhash.training.checkpoint import load_json, load_tensors

        state = load_json(directory / STATE_FILE)
        if self.feature_width_ is None:  # saved before feature_width was recorded in method.json
            self.feature_width_ = int(state["width"])
        self.image_size_ = int(state["image_size"])
        self.vocab_ = Vocabulary.from_dict(state["vocab"]) if state.get("vocab") else None
        self.teacher_info_ = state.get("teacher_info", {})
        self.chunk_reports_ = state.get("chunk_reports", [])
        self.image_init_info_ = state.get("image_init", {"image_init": "random"})
        teacher_net = AttentionTeacher(self.feature_width_, self.config)
        student = self._build_student(int(state["bow_width"]))
        for prefix, net in (("teacher.", teacher_net), ("student.", student)):
            sub = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            try:
                net.load_state_dict(sub)
            except RuntimeError as exc:
                raise ConfigError(f"{directory} weights do not fit the lcdh {prefix[:-1]} of method.json: {exc}") from None
            net.eval()
        self.teacher_net_, self.student_ = teacher_net, student
        if (directory / CODES_FILE).is_file():
            arr = {k: v.numpy() for k, v in load_tensors(directory / CODES_FILE).items()}
            self.store_ = MemoryCodeStore.from_arrays(self.n_bits, arr)

    # ------------------------------------------------------------------ sizes
    def parameter_counts(self) -> dict[str, int]:
        """Parameters of the student's image and text parts and of the offline teacher head."""
        self.require_fitted()
        s = self.student_
        count = lambda mods: int(sum(p.numel() for m in mods for p in m.parameters()))  # noqa: E731
        return {"student_image": count([s.image_net, s.image_fc]), "student_text": count([s.text_net, s.text_fc]),
                "offline_teacher_head": count([self.teacher_net_])}
