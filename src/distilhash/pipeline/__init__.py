"""Library functions behind the ``distilhash`` commands, one module per stage.

Each command in :mod:`distilhash.cli` parses its options, calls one function here and prints the
result; a Python user calls the same functions:

- :mod:`.inputs`: ``load_features_and_split`` (a prepared dataset, its split and teacher features);
- :mod:`.train`: ``build_method``, ``train_model`` (``distilhash train``), ``TRAIN_RECORD``;
- :mod:`.evaluate`: ``evaluate_parts`` (mAP@all per part), ``evaluate_model`` (``distilhash eval``);
- :mod:`.encode`: ``part_indices``, ``encode_part`` (``distilhash encode``);
- :mod:`.records`: ``git_commit`` (the code version written into run records).

Submodules import heavy libraries inside their functions; importing this package is cheap.
"""
