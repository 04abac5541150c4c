"""transformers CLIP backend on a tiny randomly initialised model saved to a temporary directory."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")

from distilhash.teachers.registry import TeacherLoadError, create_teacher  # noqa: E402


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    """A CLIPModel with 2-layer 32-wide towers + a BERT wordpiece tokenizer (MiniLM's vocab file)."""
    import torch
    from transformers import BertTokenizerFast, CLIPConfig, CLIPModel

    from distilhash.teachers.minilm_text import default_minilm_path

    tok = BertTokenizerFast(vocab_file=str(default_minilm_path() / "vocab.txt"), do_lower_case=True)
    cfg = CLIPConfig(
        text_config={"vocab_size": tok.vocab_size, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "max_position_embeddings": 40, "eos_token_id": tok.sep_token_id,
                     "pad_token_id": tok.pad_token_id, "bos_token_id": tok.cls_token_id},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        projection_dim=24,
    )
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("tiny-clip")
    CLIPModel(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return d


def _images(n, size=40, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_hf_clip_shapes_normalisation_and_name(tiny_clip_dir):
    t = create_teacher(f"hf:{tiny_clip_dir}")
    assert t.width == 24 and t.image_size == 32 and t.name == f"hf:{tiny_clip_dir}"
    zi = t.encode_images(_images(5))
    zt = t.encode_texts(["a photo of a cat", "two dogs", "", "x " * 100])  # empty and over-long texts too
    assert zi.shape == (5, 24) and zt.shape == (4, 24)
    assert zi.dtype == np.float32 and zt.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(zi, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(zt, axis=1), 1, atol=1e-5)
    assert not any(p.requires_grad for p in t.model.parameters()) and not t.model.training


def test_hf_clip_deterministic_and_batch_invariant(tiny_clip_dir):
    t = create_teacher(f"hf:{tiny_clip_dir}")
    imgs = _images(7, seed=1)
    texts = ["a red apple", "a small cat face next to a rocket and a tree", "sun", "a b c d e f g"]
    a = t.encode_images(imgs, batch_size=7)
    b = t.encode_images(imgs, batch_size=2)
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(a, create_teacher(f"hf:{tiny_clip_dir}").encode_images(imgs, batch_size=3), atol=1e-5)
    np.testing.assert_allclose(t.encode_texts(texts, batch_size=4), t.encode_texts(texts, batch_size=1), atol=1e-5)
    # PIL input of the same pixels gives the same embedding as the array
    from PIL import Image

    pil = [Image.fromarray(im) for im in imgs[:2]]
    np.testing.assert_allclose(t.encode_images(pil), a[:2], atol=1e-3)
    # different inputs give different embeddings
    assert np.abs(a[0] - a[1]).max() > 1e-3


def test_hf_clip_missing_weights_error_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(TeacherLoadError) as exc:
        create_teacher("hf:openai/clip-vit-base-patch32")
    msg = str(exc.value)
    assert "openai/clip-vit-base-patch32" in msg and "cache" in msg and "huggingface-cli download" in msg
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TeacherLoadError, match="config.json"):
        create_teacher(f"hf:{empty}")
