"""Label prompts: multi-hot labels turned into text for the teacher's text tower.

DCMQ and SODA feed each item's labels to the teacher as a sentence ("label text"), e.g.
``label_prompt(["cat-face", "animal-bird", "food-fruit"])`` ->
``"a photo of cat-face, animal-bird and food-fruit"``. Templates are data (:data:`TEMPLATES`);
``"bare"`` gives the label names alone (the SODA ablation).

Example:
    >>> label_prompt(["cat-face", "animal-bird", "food-fruit"])
    'a photo of cat-face, animal-bird and food-fruit'
    >>> label_prompt(["animal-bird"], "bare")
    'animal-bird'
    >>> class_prompts(["a", "b"], "an emoji scene of {}")
    ['an emoji scene of a', 'an emoji scene of b']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from distilhash.errors import ConfigError

__all__ = ["TEMPLATES", "DEFAULT_TEMPLATE", "NO_LABEL", "resolve_template", "join_names", "label_prompt",
           "class_prompts", "item_prompts"]

#: Named prompt templates; ``{}`` receives the joined label names.
TEMPLATES: dict[str, str] = {
    "photo": "a photo of {}",
    "bare": "{}",
    "picture": "a picture showing {}",
    "emoji": "an emoji scene of {}",
}

DEFAULT_TEMPLATE = "a photo of {}"

#: What stands for the label list of an item without labels.
NO_LABEL = "nothing in particular"


def resolve_template(template: str) -> str:
    """A template string: a key of :data:`TEMPLATES` or a string with exactly one ``{}``."""
    resolved = TEMPLATES.get(template, template)
    if resolved.count("{}") != 1:
        raise ConfigError(
            f"prompt template {template!r} must be one of {sorted(TEMPLATES)} or contain exactly one '{{}}'"
        )
    return resolved


def join_names(names: Sequence[str]) -> str:
    """``["a"]`` -> ``"a"``; ``["a", "b"]`` -> ``"a and b"``; ``["a", "b", "c"]`` -> ``"a, b and c"``."""
    names = [str(n) for n in names]
    if not names:
        return NO_LABEL
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def label_prompt(label_names: Sequence[str], template: str = DEFAULT_TEMPLATE) -> str:
    """The prompt of one item whose labels are ``label_names`` (in the given order)."""
    return resolve_template(template).format(join_names(label_names))


def class_prompts(label_names: Sequence[str], template: str = DEFAULT_TEMPLATE) -> list[str]:
    """One prompt per class: ``[label_prompt([name], template) for name in label_names]``."""
    return [label_prompt([name], template) for name in label_names]


def item_prompts(labels: np.ndarray, label_names: Sequence[str], template: str = DEFAULT_TEMPLATE) -> list[str]:
    """The label prompt of every row of multi-hot ``labels`` ``[N, C]`` (labels in column order)."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[1] != len(label_names):
        raise ConfigError(f"labels of shape {labels.shape} do not match {len(label_names)} label names")
    return [label_prompt([label_names[j] for j in np.flatnonzero(row)], template) for row in labels]
