"""Cross-modal datasets: items (id, image, text, multi-hot labels) plus a seeded split.

Heavy generators (EmojiScenes) and format readers live in their own modules and are imported
on demand.
"""

from __future__ import annotations

from distilhash.data.dataset import CrossModalDataset, load_dataset, save_dataset
from distilhash.data.images import ArrayImageStore, FileImageStore, ImageStore
from distilhash.data.split import PRESETS, Split, SplitSpec, make_split

__all__ = [
    "CrossModalDataset",
    "ImageStore",
    "ArrayImageStore",
    "FileImageStore",
    "Split",
    "SplitSpec",
    "PRESETS",
    "make_split",
    "load_dataset",
    "save_dataset",
]
