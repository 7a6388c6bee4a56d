"""What the command handlers share: which front end runs them, the engine, and following a job.

In a notebook front end (an ipykernel ``ZMQInteractiveShell``) handlers show widgets; elsewhere
text and a tqdm bar. Tests patch ``in_notebook`` and ``display`` here.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from IPython.display import display

from .._format import human_size
from ..core.jobs import JobState
from ..errors import error_from_dict


def in_notebook(shell: Any) -> bool:
    """True when ``shell`` is an ipykernel kernel (a front end that renders widgets)."""
    try:
        from ipykernel.zmqshell import ZMQInteractiveShell
    except ImportError:  # plain IPython without ipykernel
        return False
    return isinstance(shell, ZMQInteractiveShell)


class Handlers:
    """Base of the ``handle_<command>`` groups that ``StudioMagics`` is made of."""

    shell: Any

    @property
    def notebook(self) -> bool:
        return in_notebook(self.shell)

    @staticmethod
    def show(obj: Any, **kwargs: Any) -> Any:
        """IPython's ``display``: a widget or a live ``display_id`` handle."""
        return display(obj, **kwargs)

    @staticmethod
    def _engine() -> Any:
        from .. import get_engine

        return get_engine()

    def _follow(self, eng: Any, job: Any) -> Any:
        """A tqdm bar until the download stops; Ctrl-C pauses it (the same pull resumes it)."""
        from .._progress import watch_download

        try:
            job = watch_download(eng, job, file=sys.stderr)
        except KeyboardInterrupt:
            if job.owner_pid == eng.jobs.owner_pid:
                job = eng.downloads.pause(job.id) if job.kind == "download" else eng.runner.pause(job.id)
            print(f"paused {job.title}; run the same %studio pull to resume", file=sys.stderr)
            return job
        if job.state == JobState.FAILED:
            raise error_from_dict(job.error or {"message": f"Download {job.id} failed"})
        if job.state == JobState.COMPLETED and job.kind != "download":
            pass  # the caller reports what the job made (an import: its model and checksum)
        elif job.state == JobState.COMPLETED:
            r = job.result or {}
            print(f"{r.get('path', '')}\nverified {r.get('verified', 0)} files ({human_size(r.get('bytes_total'))})")
        else:
            print(f"download {job.id} is {job.state.value}; run the same %studio pull to resume", file=sys.stderr)
        return job


def follow_steps(job: Any, postfix: Any) -> Any:
    """A tqdm bar of a job's steps, with ``postfix(progress)`` beside it, until the job stops;
    returns its final snapshot (Ctrl-C propagates, so the caller decides what stopping means)."""
    from tqdm import tqdm

    bar = None
    try:
        while True:
            job = job.refresh()
            p = job.progress
            if bar is None and p.total:
                bar = tqdm(total=int(p.total), initial=int(p.done), unit="step", desc=job.title or job.id,
                           dynamic_ncols=True, leave=True, file=sys.stderr)
            if bar is not None and (int(p.done) != bar.n or not job.active):
                bar.n = int(p.done)
                text = postfix(p)
                if text:
                    bar.set_postfix_str(text, refresh=False)
                bar.refresh()
            if not job.active:
                return job
            time.sleep(0.2)
    finally:
        if bar is not None:
            bar.close()
