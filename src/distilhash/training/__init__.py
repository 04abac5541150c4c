"""Small generic training utilities shared by the learned methods (DCMQ, SODA, LCDH, DCMH).

* :mod:`.seed` — seeding numpy / torch / python and thread limits.
* :mod:`.batches` — seeded mini-batch index iterators.
* :mod:`.terms` — running means of named loss terms.
* :mod:`.checkpoint` — safetensors weights + JSON config/metadata.
* :mod:`.validation` — fast mAP@all on ``split.val`` (queries) vs ``split.fit`` (database).

The epoch loop (train, validate, early stop, restore the best) is :mod:`distilhash.epochs` and the
progress bars :mod:`distilhash.progress`: foundation modules, so that the teachers' own fits use
them too. Only the submodules import torch, so importing this package is cheap.
"""
