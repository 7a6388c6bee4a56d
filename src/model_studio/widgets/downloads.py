"""``Downloads``: live progress of download jobs, with pause, resume and cancel."""

from __future__ import annotations

from typing import Any

import traitlets

from ._base import StudioWidget


class Downloads(StudioWidget):
    """Download jobs of every process on this machine (kernels, the server, the CLI), live.

    ``job_ids`` focuses the widget on some jobs (``%studio pull`` shows
    ``Downloads(job_ids=[job.id])``); empty shows them all. Buttons map to the ``api``
    operations ``downloads.pause``, ``downloads.resume`` and ``downloads.cancel``, the same as
    ``job.pause()``, ``job.resume()`` and ``job.cancel()`` in Python.
    """

    _bundle = "downloads.js"

    #: Ids of the jobs to show; empty shows every download.
    job_ids = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def _wants_job(self, job: Any) -> bool:
        if self.job_ids:
            return job.id in self.job_ids
        return job.kind == "download"

    def _summary(self) -> str:
        return f"job_ids={list(self.job_ids)!r}" if self.job_ids else ""
