"""HTML reports of a clustering run: summary, 2-D map, centroids, training curves, scores.

``aecm fit`` writes a run folder (see :mod:`aecm.report.run`) and renders its report with
:func:`render_report`; ``aecm report RUN_DIR`` renders it again from the saved files alone.
"""

from aecm.report.render import SECTION_IDS, render_report
from aecm.report.run import RunFiles, read_run

__all__ = ["SECTION_IDS", "RunFiles", "read_run", "render_report"]
