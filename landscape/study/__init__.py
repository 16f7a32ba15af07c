"""The fine-tuning study over seeds (``demo``): its runner, statistics and results table.

The top library layer: the only one that trains (through :mod:`swa.study`).
"""

from landscape._exports import lazy_exports

_EXPORTS = {
    "run_study": "landscape.study.run",
    "study_landscape": "landscape.study.run",
    "study_markdown": "landscape.study.table",
    "summarize_study": "landscape.study.table",
    "summarize": "landscape.study.stats",
    "paired_difference": "landscape.study.stats",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
