"""``make demo``: the whole product on the embedded default, as the commands a user would type.

:mod:`.steps` lists the steps (each a CLI command, skipped when its output exists and was made with
this run's teacher, :mod:`.freshness`); :mod:`.teacher_check` loads the teacher (this home's fit, else the
shipped copy) and records which copy answered;
:mod:`.examples` holds the example queries, chosen before any result was seen, and measures
them (precision@10 by the label a person typing the query means). Run with
``distilhash demo run`` (what ``make demo`` runs; ``python -m distilhash.demo`` too).
"""
