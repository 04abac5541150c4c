"""SODA: label prompts as a modality; stage-1 image Hamming space guides stage-2 text codes.

Modules: :mod:`.config` (hyperparameters as data), :mod:`.prompts` (the label modality and its
cache), :mod:`.nets` (hash heads, torch), :mod:`.loop` (epoch loop with validation early
stopping), :mod:`.selection` (validation mAP), :mod:`.method` (the registered ``soda`` method).
Importing this package does not import torch.
"""

from distilhash.methods.soda.config import SodaConfig, StageConfig
from distilhash.methods.soda.method import SodaMethod

__all__ = ["SodaMethod", "SodaConfig", "StageConfig"]
