"""Losses, one per file; each returns a dict of named scalar terms (logged by name).

* :mod:`.similarity_match` — match a similarity matrix to a target (MSE / KL of row softmaxes).
* :mod:`.cross_modal` — DCMQ's cross-modal distillation (continuous query vs quantized item).
* :mod:`.intra_modal` — the same within one modality.
* :mod:`.quantization` — alignment of an embedding with its quantized reconstruction.
* :mod:`.infonce` — symmetric InfoNCE of matched image and text rows (one scalar; LiT teacher, LCDH student pretraining).
"""
