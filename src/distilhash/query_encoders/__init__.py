"""Query encoders: trained models that turn a raw text or image query into what an index is searched with.

- :mod:`.query_encoder`: :class:`~.query_encoder.QueryEncoder` (teacher -> trained method -> query
  codes), ``query_encoder_for`` (the encoder an index records), ``load_images``;
- :mod:`.light_text`: the light n-gram text encoder distilled from the teacher's text tower
  (numpy only; stored next to the model in ``MODEL/light-text``); :mod:`.light_text_fit` fits it.

They sit with the models, before the index stage: the index, the search functions
(:mod:`distilhash.pipeline.search`) and the service (:mod:`distilhash.serve`) use them. Importing
this package is cheap (submodules import numpy, the teacher and torch only when needed).
"""
