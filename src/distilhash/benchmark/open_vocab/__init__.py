"""The open-vocabulary benchmark: concrete-noun queries judged by the words of item titles.

* :mod:`.words` — title tokens, plurals, and the relevance rule (a query matches a title that
  contains its noun, the noun's plural or one of its synonyms);
* :mod:`.wordnet` — a reader of the WordNet 3.0 database files (Debian ``wordnet-base``);
* :mod:`.vocab` — the written rule that drew the committed query list ``queries.json``;
* :mod:`.domains` — the two databases (openclipart ``split.query`` drawings, held-out Noto
  emoji glyphs named by CLDR) and the emoji held-out rule;
* :mod:`.scoring` — P@10, R@50 and mAP of a fitted method, the float teacher and the random ranking.

The rule and the list are fixed before any model is scored on them (docs/open-vocabulary.md).
"""
