"""Reports: one command from checkpoints to pages a person reads (``dynan.report``).

- :func:`report` — one page per checkpoint (configuration, accuracy, shape parameters and the
  analyses), a comparison page and an index, each a self-contained HTML file with a results
  JSON and a Markdown summary beside it.
- :func:`compare` — the comparison page alone.

Figures are functions ``plot_x(result, ax=None)`` in the modules of this package (one per
analysis, plus :mod:`dynan.report.model_figures`); :mod:`dynan.report.builder` holds the page
model, :mod:`dynan.report.sections` one function per page section, and
:mod:`dynan.report.cache` the results cache. Compute modules never import pyplot.

The module itself is callable, ``dynan.report(...)`` being ``dynan.report.report(...)``, so the
package can be re-exported as ``dynan.report`` without hiding its submodules.
"""

from __future__ import annotations

import sys
import types

from dynan.report.compare import compare
from dynan.report.pages import report

__all__ = ["compare", "report"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
