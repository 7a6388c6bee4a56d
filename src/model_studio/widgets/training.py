"""``TrainingMonitor``: LoRA fine-tuning runs with live loss curves, logs and a new-run form.

A view over the ``training.*`` and ``datasets.*`` operations of ``model_studio.api`` and the job
feed: it receives ``job`` events of training runs only (kind ``"train"``), and the front end
fetches new metric rows (``training.metrics`` with ``since_step``) as each step arrives.
"""

from __future__ import annotations

from typing import Any

import traitlets

from ._base import StudioWidget

#: The job kind of a training run (``engine/training/service.py``).
TRAIN_KIND = "train"


class TrainingMonitor(StudioWidget):
    """Training runs: a runs list, the selected run's loss / eval loss / learning-rate curves,
    progress with step, epoch and ETA, the log tail, cancel / resume, an overlay of a second
    run's loss, and a "New run" form with a memory and time estimate.

    ``run_id`` is the run shown (synced both ways: set it to focus a run, read it to see which
    run the user picked); empty shows the newest run.
    """

    _bundle = "training.js"

    #: The run shown in the monitor (a job id); empty: the newest run.
    run_id = traitlets.Unicode("").tag(sync=True)

    def __init__(self, run_id: Any = "", **kwargs: Any) -> None:
        # A Job (e.g. what %studio train returns) may be passed for its id.
        if not isinstance(run_id, str):
            run_id = getattr(run_id, "id", run_id)
        super().__init__(run_id=run_id or "", **kwargs)

    def _wants_job(self, job: Any) -> bool:
        return getattr(job, "kind", None) == TRAIN_KIND

    def _summary(self) -> str:
        return f"run_id={self.run_id!r}" if self.run_id else ""
