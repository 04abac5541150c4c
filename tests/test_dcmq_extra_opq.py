"""DCMQ's extra training pairs of a second domain and the OPQ rotation (DCMQ and plain PQ); defaults untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distilhash.errors import ConfigError, FeatureError
from distilhash.methods import dcmq_extra
from distilhash.methods.base import create_method, load_method
from distilhash.quantizers import opq
from distilhash.quantizers.opq import opq_rotation
from distilhash.quantizers.pq import ProductQuantizer
from distilhash.training.synthetic import synthetic_features

WIDTH = 24
FAST = dict(n_bits=32, n_codewords=16, epochs=3, eval_every=1, patience=0, warmup_epochs=1, hidden_dim=32, batch_size=64,
            progress=False, lr=3e-3, image_head="residual", text_head="residual", embed_dim=WIDTH, target_text="mix")


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return synthetic_features(n=500, n_labels=8, width=WIDTH, n_query=80, n_train=360, n_val=60)


def _uneven(n: int = 2000, d: int = 32, seed: int = 0) -> np.ndarray:
    """Rows whose variance sits in 4 coordinates, all in PQ's first block: the case OPQ is for."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)) * np.r_[np.full(4, 5.0), np.full(d - 4, 0.3)]).astype(np.float32)


def _pq_error(x: np.ndarray, M: int = 4, nbits: int = 4) -> float:
    pq = ProductQuantizer(x.shape[1], M, nbits, seed=0).fit(x)
    return float(((pq.decode(pq.encode(x)) - x) ** 2).sum(1).mean())


def _recon_error(m, x: np.ndarray) -> float:
    """Relative reconstruction error |z - q|^2 / |z|^2 of the image codes of ``x``."""
    z = m.encode("image", x, "query").data
    codes = m.encode("image", x, "database")
    q = np.concatenate([codes.codebooks[k][codes.data[:, k]] for k in range(codes.data.shape[1])], axis=1)
    return float(((z - q) ** 2).sum(1).mean() / (z ** 2).sum(1).mean())


def _second_domain(fs, n: int = 200, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Unit image / caption features of another kind of picture: far from the dataset's, paired with each other."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=fs.width)
    image = centre + 0.6 * rng.normal(size=(n, fs.width))
    text = image + 0.3 * rng.normal(size=(n, fs.width))
    unit = lambda a: (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)  # noqa: E731
    return unit(image), unit(text)


def test_opq_rotation_is_orthogonal_and_cuts_the_pq_error_of_uneven_rows():
    x = _uneven()
    rot = opq_rotation(x, 4, nbits=4, n_iter=4)
    assert np.allclose(rot.T @ rot, np.eye(32), atol=1e-5)
    assert _pq_error(x @ rot) < 0.3 * _pq_error(x)  # measured ~0.1x
    with pytest.raises(ConfigError, match="divisible by the 5 codebooks"):
        opq_rotation(x, 5)


def test_pq_opq_option_lowers_the_error_ranks_alike_and_survives_save(data, tmp_path):
    x = _uneven(600, d=WIDTH)
    fs, split = data
    fs = type(fs)(**{**fs.__dict__, "image": x[:500] / 5, "text": x[:500] / 5 + 0.01})
    plain = create_method("pq", n_bits=16, nbits_per_code=4).fit(fs, split)
    rot = create_method("pq", n_bits=16, nbits_per_code=4, rotation="opq").fit(fs, split)
    items = fs.image[split.retrieval]

    def err(m):
        codes, q = m.encode("image", items, "database"), m.encode("image", items, "query").data
        recon = np.concatenate([codes.codebooks[k][codes.data[:, k]] for k in range(codes.data.shape[1])], axis=1)
        return float(((recon - q) ** 2).sum(1).mean())

    assert err(rot) < 0.5 * err(plain)
    # the rotation is applied to queries too: query-to-query distances are those of the unrotated features
    qr = rot.encode("text", fs.text[:5], "query").data
    assert np.allclose(((qr[:, None] - qr[None]) ** 2).sum(-1), ((fs.text[:5, None] - fs.text[None, :5]) ** 2).sum(-1), atol=1e-5)
    rot.save(tmp_path / "pq")
    back = load_method(tmp_path / "pq")
    assert np.array_equal(back.encode("image", items, "database").data, rot.encode("image", items, "database").data)
    assert "rotation" not in plain.state_tensors()
    with pytest.raises(ConfigError, match="rotation='pca'"):
        create_method("pq", rotation="pca")


def test_dcmq_defaults_never_touch_the_rotation_or_extra_pairs(data, monkeypatch):
    fs, split = data
    ref = create_method("dcmq", **FAST).fit(fs, split)
    monkeypatch.setattr(opq, "opq_rotation", lambda *a, **k: pytest.fail("the default fitted a rotation"))
    monkeypatch.setattr(dcmq_extra, "join_extra_pairs", lambda *a, **k: pytest.fail("the default read extra pairs"))
    same = create_method("dcmq", extra_pairs="", pq_rotation="none", **FAST).fit(fs, split)
    x = fs.image[split.retrieval]
    assert np.array_equal(ref.encode("image", x, "database").data, same.encode("image", x, "database").data)
    assert np.array_equal(ref.codebooks(), same.codebooks())
    assert "rotation" not in same.state_tensors() and "n_extra_pairs" not in same.fit_info_


def test_dcmq_opq_rotates_both_modalities_and_survives_save(data, tmp_path):
    fs, split = data
    m = create_method("dcmq", pq_rotation="opq", **FAST).fit(fs, split)
    rot = m.model_.rotation.numpy()
    assert np.allclose(rot.T @ rot, np.eye(WIDTH), atol=1e-4) and not np.allclose(rot, np.eye(WIDTH), atol=1e-2)
    x = fs.image[split.retrieval]
    m.save(tmp_path / "run")
    back = load_method(tmp_path / "run")
    assert np.array_equal(back.encode("image", x, "database").data, m.encode("image", x, "database").data)
    assert np.allclose(back.encode("text", fs.text[:4], "query").data, m.encode("text", fs.text[:4], "query").data)
    with pytest.raises(ConfigError, match="pq_rotation='opq': needs the quantizer"):
        create_method("float-student", pq_rotation="opq")


def test_the_numpy_query_head_rotates_queries_like_the_method(data, tmp_path):
    """`distilhash search` and the service read a saved DCMQ's queries through the torch-free numpy head (MLP heads):
    with pq_rotation="opq" it must rotate them as the method does, else they meet the codebooks unrotated."""
    from distilhash.query_encoders.numpy_heads import numpy_head_for

    fs, split = data
    m = create_method("dcmq", pq_rotation="opq", **{**FAST, "image_head": "mlp", "text_head": "mlp"}).fit(fs, split)
    m.save(tmp_path / "run")
    head = numpy_head_for(tmp_path / "run")
    assert head is not None and head.rotation is not None
    for modality, rows in (("text", fs.text[:6]), ("image", fs.image[:6])):
        assert np.allclose(head.encode(modality, rows).data, m.encode(modality, rows, "query").data, atol=1e-5)


def test_dcmq_extra_pairs_join_training_and_the_codebooks_cover_them(data, tmp_path):
    fs, split = data
    image, text = _second_domain(fs)
    path = tmp_path / "pairs.npz"
    np.savez(path, image=image[:150], text=text[:150])
    unseen = image[150:]  # same domain, not in the extra rows
    plain = create_method("dcmq", **FAST).fit(fs, split)
    extra = create_method("dcmq", extra_pairs=str(path), **FAST).fit(fs, split)
    assert extra.fit_info_["n_extra_pairs"] == 150 and extra.fit_info_["n_fit"] == len(split.fit)
    assert _recon_error(extra, unseen) < 0.8 * _recon_error(plain, unseen)


def test_extra_pairs_of_another_fit_of_the_teacher_are_refused(data, tmp_path):
    """Same width, another fit of the teacher: another feature space. A recorded fingerprint that differs from the
    training features' is refused by name; the same one (or none recorded) trains."""
    fs, split = data
    image, text = _second_domain(fs, n=40)
    fs = type(fs)(**{**fs.__dict__, "manifest": {**fs.manifest, "teacher_fingerprint": "aaaa1111-this-fit"}})
    np.savez(tmp_path / "other.npz", image=image, text=text, teacher_fingerprint=np.array("bbbb2222-another-fit"))
    with pytest.raises(FeatureError, match="bbbb2222-another-fit.*aaaa1111-this-fit"):
        create_method("dcmq", extra_pairs=str(tmp_path / "other.npz"), **FAST).fit(fs, split)
    np.savez(tmp_path / "same.npz", image=image, text=text, teacher_fingerprint=np.array("aaaa1111-this-fit"))
    fitted = create_method("dcmq", extra_pairs=str(tmp_path / "same.npz"), **{**FAST, "epochs": 1}).fit(fs, split)
    assert fitted.fit_info_["n_extra_pairs"] == 40


def test_extra_pairs_take_their_caption_in_every_target_slot():
    cap = torch.randn(3, 5)
    assert torch.equal(dcmq_extra.extra_target_text(torch.zeros(4, 5), cap), cap)
    mixed = dcmq_extra.extra_target_text(torch.zeros(4, 2, 5), cap)
    assert mixed.shape == (3, 2, 5) and torch.equal(mixed[:, 0], cap) and torch.equal(mixed[:, 1], cap)


def test_extra_pairs_errors_name_the_file_and_what_was_expected(data, tmp_path):
    fs, split = data
    with pytest.raises(FeatureError, match="no such file"):
        create_method("dcmq", extra_pairs=str(tmp_path / "none.npz"), **FAST).fit(fs, split)
    np.savez(tmp_path / "narrow.npz", image=np.ones((4, 3), np.float32), text=np.ones((4, 3), np.float32))
    with pytest.raises(FeatureError, match=r"expected both \[P >= 1, 24\]"):
        create_method("dcmq", extra_pairs=str(tmp_path / "narrow.npz"), **FAST).fit(fs, split)
    np.savez(tmp_path / "half.npz", image=np.ones((4, WIDTH), np.float32))
    with pytest.raises(FeatureError, match="no array 'text'"):
        create_method("dcmq", extra_pairs=str(tmp_path / "half.npz"), **FAST).fit(fs, split)
    with pytest.raises(ConfigError, match="extra_pairs: needs target npc or cosine"):
        create_method("dcmq", extra_pairs=str(tmp_path / "half.npz"), target="labels")
