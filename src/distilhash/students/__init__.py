"""Lightweight student encoders that read raw inputs (pixels, text) instead of teacher features.

Used by LCDH: the student must encode queries without the big teacher. Two families, each a
registry of factories returning a ``torch.nn.Module`` that maps raw input to a feature vector
``[n, out_dim]`` (the method puts its own FC-to-L-bits layer on top):

* image students (:data:`IMAGE_STUDENTS`): ``small-cnn`` (compact CNN on uint8 pixels ``[n, S, S, 3]``,
  :mod:`.image_cnn`), ``lite0`` (ImageNet-pretrained EfficientNet-Lite0, early stages frozen,
  :mod:`.lite0_student`), ``vgg16`` (torchvision VGG16, only when torchvision is importable,
  :mod:`.vgg`);
* text students (:data:`TEXT_STUDENTS`): ``bow`` (MLP on a bag-of-words vector over a vocabulary
  built from the training text, :mod:`.text_bow` and :mod:`.vocab`).

Every image student declares ``frozen_prefix`` (class attribute): when True it has ``prefix(pixels)``
(its frozen early layers, no gradient) and its ``forward`` accepts that prefix in place of the pixels,
so a caller training on the same items for several epochs computes the frozen part once.

Importing this package does not import torch; the factories import it when called.

Example:
    >>> from distilhash.students import create_image_student  # doctest: +SKIP
    >>> net = create_image_student("small-cnn", image_size=64)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from distilhash.registry import Registry

__all__ = ["IMAGE_STUDENTS", "TEXT_STUDENTS", "create_image_student", "create_text_student", "list_image_students",
           "list_text_students"]

#: name -> module that registers the student (imported on first use)
IMAGE_STUDENTS: Registry = Registry("image student", modules={"small-cnn": "distilhash.students.image_cnn",
                                                               "lite0": "distilhash.students.lite0_student",
                                                               "vgg16": "distilhash.students.vgg"})
TEXT_STUDENTS: Registry = Registry("text student", modules={"bow": "distilhash.students.text_bow"})


def create_image_student(name: str, **options: Any):
    """An image student ``nn.Module``: uint8 ``[n, S, S, 3]`` -> float ``[n, out_dim]`` (attribute ``out_dim``)."""
    return IMAGE_STUDENTS.create(name, **options)


def create_text_student(name: str, **options: Any):
    """A text student ``nn.Module``: float BoW ``[n, V]`` -> float ``[n, out_dim]`` (attribute ``out_dim``)."""
    return TEXT_STUDENTS.create(name, **options)


def list_image_students() -> list[str]:
    return IMAGE_STUDENTS.names()


def list_text_students() -> list[str]:
    return TEXT_STUDENTS.names()
