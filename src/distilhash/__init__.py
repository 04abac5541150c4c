"""distilhash: compact image<->text retrieval codes distilled from vision-language models.

Importing the package is cheap: heavy modules (torch, faiss, transformers) are imported only by
the functions that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
