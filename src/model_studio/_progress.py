"""Terminal progress for a download job (the CLI and the magics outside a notebook share it)."""

from __future__ import annotations

import time
from typing import Any


def watch_download(eng: Any, job: Any, *, file: Any = None) -> Any:
    """Draw a tqdm bar (bytes, rate, ETA) until ``job`` stops running; return its final snapshot.

    KeyboardInterrupt propagates: the caller decides whether Ctrl-C pauses the download.
    """
    from tqdm import tqdm

    latest: dict[str, Any] = {}

    def on_event(j: Any) -> None:  # the bus carries progress more often than the database row
        if j.id == job.id:
            latest["job"] = j

    unsubscribe = eng.bus.subscribe(on_event)
    bar = None
    try:
        while True:
            job = job.refresh()
            live = latest.get("job")
            progress = live.progress if live is not None and job.active else job.progress
            if bar is None and progress.total:
                # Start at what is already on disk, so a resumed download shows a true rate.
                bar = tqdm(total=progress.total, initial=progress.done, unit="B", unit_scale=True,
                           desc=job.title, dynamic_ncols=True, leave=True, file=file)
            elif bar is not None and progress.done != bar.n:
                if progress.done > bar.n:
                    bar.update(progress.done - bar.n)
                else:  # a file restarted (e.g. after a checksum mismatch)
                    bar.n = progress.done
                    bar.refresh()
            if not job.active:
                return job
            time.sleep(0.2)
    finally:
        unsubscribe()
        if bar is not None:
            bar.close()
