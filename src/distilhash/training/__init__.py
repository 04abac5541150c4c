"""Small generic training utilities shared by the learned methods (DCMQ, SODA, LCDH, DCMH).

* :mod:`.seed` — seeding numpy / torch / python and thread limits.
* :mod:`.batches` — seeded mini-batch index iterators.
* :mod:`.progress` — tqdm progress bars that can be switched off.
* :mod:`.terms` — running means of named loss terms.
* :mod:`.early_stopping` — keep the best state by a validation score.
* :mod:`.loop` — the epoch loop: train, validate every few epochs, early stop, restore the best.
* :mod:`.checkpoint` — safetensors weights + JSON config/metadata.
* :mod:`.validation` — fast mAP@all on ``split.val`` (queries) vs ``split.fit`` (database).

Only the submodules import torch, so importing this package is cheap.
"""
