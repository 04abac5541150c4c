"""Library functions behind the ``distilhash`` commands, one module per stage.

Each command in :mod:`distilhash.cli` parses its options, calls one function here and prints the
result; a Python user calls the same functions:

- :mod:`.inputs`: ``load_features_and_split`` (a prepared dataset, its split and teacher features);
- :mod:`.extract`: ``extract_teacher_features`` (``distilhash teacher extract``, local or Ray);
- :mod:`.train`: ``build_method``, ``train_model`` (``distilhash train``), ``TRAIN_RECORD``;
- :mod:`.evaluate`: ``evaluate_parts`` (mAP@all per part), ``evaluate_model`` (``distilhash eval``);
- :mod:`.encode`: ``part_indices``, ``encode_part``, ``encode_database`` (``distilhash encode``);
- :mod:`.index`: ``build_index``, ``add_items`` (``distilhash index build|add``);
- :mod:`.search`: ``search_index``, ``search_by_text``, ``search_by_image`` (``distilhash search``);
- :mod:`.query_encoder`: ``fit_query_encoder`` (the static query text encoder of a trained model;
  ``distilhash query-encoder fit``);
- :mod:`.records`: ``git_commit`` (the code version written into run records).

Stage-local work lives with its stage: ``distilhash.data.prepare`` (``data prepare|split``),
``distilhash.teachers.fitting`` (``teacher fit``), ``distilhash.teachers.describe`` (``teacher
info``), ``distilhash.students.pretrain`` (``student pretrain``), ``distilhash.paths.describe_home``
(``paths``). Submodules import heavy libraries inside their functions; importing this package is
cheap.
"""
