"""``make demo``: the whole product on the embedded default, as the commands a user would type.

:mod:`.steps` lists the steps (each a CLI command, skipped when its output exists);
:mod:`.examples` holds the example queries, chosen before any result was seen, and measures
them (precision@10 by the label a person typing the query means). Run with
``distilhash demo run`` (what ``make demo`` runs; ``python -m distilhash.demo`` too).
"""
