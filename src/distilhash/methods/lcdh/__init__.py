"""LCDH: lightweight student hashed online from a stream, distilled from an attention teacher.

See :mod:`.method` (the registered ``lcdh`` method), :mod:`.config` (every option),
:mod:`.nets`, :mod:`.teacher_fit`, :mod:`.stream` (the online protocol), :mod:`.store`
(frozen codes, durable through the index engine) and ``docs/lcdh.md``.
"""

from distilhash.methods.lcdh.config import LCDHConfig
from distilhash.methods.lcdh.method import LCDHMethod

__all__ = ["LCDHConfig", "LCDHMethod"]
