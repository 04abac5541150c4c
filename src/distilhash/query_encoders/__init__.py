"""Query encoders: trained models that turn a raw text or image query into what an index is searched with.

- :mod:`.protocol`: the :class:`~.protocol.QueryEncoder` protocol every caller uses (``read`` ->
  ``project``, readers and their cost declared in ``capabilities``);
- :mod:`.query_encoder`: :class:`~.query_encoder.ModelQueryEncoder`, its implementation (static text
  encoder or teacher -> trained method -> query codes), ``TEXT_ENCODERS`` (``static``, ``teacher``),
  ``query_encoder_for`` (the encoder an index records), ``load_images``;
- :mod:`.static_text`: the static text encoder, a model2vec distillation of the teacher's text
  tower + a ridge map into the teacher's space (numpy + tokenizers; ``MODEL/static-text``);
  :mod:`.static_text_fit` fits it, :mod:`.text_towers` names each teacher's text tower;
- :mod:`.numpy_heads`: models' query heads in numpy (a PQ model's text query without torch).

They sit with the models, before the index stage: the index, the search functions
(:mod:`distilhash.pipeline.search`) and the service (:mod:`distilhash.serve`) use them. Importing
this package is cheap (submodules import numpy, the teacher and torch only when needed).
"""
