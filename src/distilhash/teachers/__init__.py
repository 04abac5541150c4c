"""Vision-language teachers (protocol, registry, backends) and the feature cache.

Backends are registered in :mod:`distilhash.teachers.registry`; they are imported lazily.
"""
