"""Energy and carbon accounts: every job that computes, and chat answers per model per day.

Jobs of the kinds in ``METERED`` (training runs, video generations, batches) are measured by the job
runner around their whole run (``EnergyAccounts.wrap``); chat answers outside a job add to one row
per (model, UTC day). Each row keeps its Wh (GPU and CPU), the method that measured it
(``core/energy.py``) and the grid intensity that applied, so gCO2e = Wh / 1000 × intensity stays
what it was when the settings change later. Rows live in ``state.sqlite`` (table ``energy``),
shared by the server, kernels and the model host.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from ..config import GRID_INTENSITY_SOURCE
from ..errors import ValidationError
from .energy import EnergyMeter, EnergyReading, meter_from
from .jobs.store import connect

#: Job kinds measured from start to end (downloads move bytes; their energy is not the studio's compute).
METERED = ("train", "video", "batch")
#: Columns of the CSV export, in order (``parse_csv`` reads them back).
COLUMNS = ("id", "kind", "model", "day", "started_at", "ended_at", "seconds", "count", "wh", "gpu_wh", "cpu_wh",
           "method", "estimated", "grid_intensity", "gco2e", "state")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS energy (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, model TEXT, day TEXT NOT NULL, started_at REAL, ended_at REAL,
    seconds REAL NOT NULL DEFAULT 0, count INTEGER NOT NULL DEFAULT 1, wh REAL NOT NULL DEFAULT 0,
    gpu_wh REAL, cpu_wh REAL NOT NULL DEFAULT 0, method TEXT NOT NULL, estimated INTEGER NOT NULL DEFAULT 0,
    grid_intensity REAL NOT NULL, gco2e REAL NOT NULL DEFAULT 0, state TEXT
);
CREATE INDEX IF NOT EXISTS energy_day ON energy(day);
"""
_metering = threading.local()  # set while a metered job runs in this thread: its chat answers are its own


def day_of(t: float) -> str:
    """The UTC day (``YYYY-MM-DD``) of a Unix time."""
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d")


def _day(value: str | None, name: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return datetime.strptime(str(value), "%Y-%m-%d").strftime("%Y-%m-%d")
    except ValueError:
        raise ValidationError(f"Parameter '{name}' must be a day as YYYY-MM-DD, got {str(value)[:40]!r}",
                              details={"parameter": name, "value": str(value)[:40]}) from None


class EnergyAccounts:
    """Records and reports energy (Wh) and carbon (gCO2e) of one studio home."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._local = threading.local()
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.settings.state_db)
        return conn

    # Measuring -----------------------------------------------------------------------------------

    def meter(self) -> EnergyMeter:
        """A started meter configured by the settings."""
        return meter_from(self.settings).start()

    def wrap(self, kind: str, run: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        """``run(job, control)`` measured from start to end: a row whatever the end (a failed run
        used energy too); a completed run's result gains ``energy`` and ``energy_wh``."""
        if kind not in METERED:
            return run

        def measured(job: Any, control: Any) -> Any:
            meter = self.meter()
            started = time.time()
            _metering.active = True
            state = "failed"
            try:
                result = run(job, control)
                state = "completed"
            except BaseException as exc:
                stopped = getattr(exc, "state", None)
                state = getattr(stopped, "value", state)
                raise
            finally:
                _metering.active = False
                reading = meter.stop()
                row: dict[str, Any] | None = None
                try:
                    row = self.record(job.id, kind, _model_of(job), reading, started=started, state=state)
                except Exception:  # accounting must never change a job's outcome
                    pass
            if isinstance(result, dict) and row is not None:
                result = {**result, "energy": row, "energy_wh": row["wh"]}
            return result

        return measured

    def record(self, row_id: str, kind: str, model: str | None, reading: EnergyReading, *,
               started: float, state: str = "completed") -> dict[str, Any]:
        """Store one job's reading; returns its row."""
        intensity = float(self.settings.grid_intensity)
        ended = time.time()
        row = {"id": row_id, "kind": kind, "model": model, "day": day_of(started), "started_at": started,
               "ended_at": ended, "seconds": reading.seconds, "count": 1, "wh": reading.wh,
               "gpu_wh": reading.gpu_wh, "cpu_wh": reading.cpu_wh, "method": reading.method,
               "estimated": reading.estimated, "grid_intensity": intensity,
               "gco2e": reading.wh / 1000.0 * intensity, "state": state}
        cols = ", ".join(COLUMNS)
        self._conn().execute(f"INSERT OR REPLACE INTO energy ({cols}) VALUES ({', '.join('?' * len(COLUMNS))})",
                             [row[c] for c in COLUMNS])
        return row

    def add_chat(self, model: str, reading: EnergyReading, *, started: float) -> None:
        """Add one chat answer to its model's row of the day (skipped inside a metered job: a batch's
        answers are the batch's)."""
        if getattr(_metering, "active", False):
            return
        intensity = float(self.settings.grid_intensity)
        day = day_of(started)
        self._conn().execute(
            "INSERT INTO energy (id, kind, model, day, started_at, ended_at, seconds, count, wh, gpu_wh, cpu_wh, "
            "method, estimated, grid_intensity, gco2e, state) VALUES (?, 'chat', ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?,"
            " 'completed') ON CONFLICT(id) DO UPDATE SET ended_at=excluded.ended_at, seconds=seconds+excluded.seconds,"
            " count=count+1, wh=wh+excluded.wh, gpu_wh=COALESCE(gpu_wh, 0)+COALESCE(excluded.gpu_wh, 0),"
            " cpu_wh=cpu_wh+excluded.cpu_wh, method=excluded.method, estimated=MAX(estimated, excluded.estimated),"
            " gco2e=gco2e+excluded.gco2e",
            (f"chat:{model}:{day}", model, day, started, time.time(), reading.seconds, reading.wh, reading.gpu_wh,
             reading.cpu_wh, reading.method, int(reading.estimated), intensity, reading.wh / 1000.0 * intensity))

    # Reporting -----------------------------------------------------------------------------------

    def rows(self, since: str | None = None, until: str | None = None, kind: str | None = None,
             limit: int = 10_000) -> list[dict[str, Any]]:
        """Rows newest first; ``since``/``until`` are UTC days (inclusive)."""
        where, args = self._where(since, until, kind)
        cur = self._conn().execute(f"SELECT {', '.join(COLUMNS)} FROM energy{where} "
                                   "ORDER BY started_at DESC LIMIT ?", [*args, int(limit)])
        return [_row(dict(zip(COLUMNS, r, strict=True))) for r in cur.fetchall()]

    def job(self, job_id: str) -> dict[str, Any] | None:
        """One job's row, or None when it was not measured."""
        rows = self._conn().execute(f"SELECT {', '.join(COLUMNS)} FROM energy WHERE id = ?", (job_id,)).fetchall()
        return _row(dict(zip(COLUMNS, rows[0], strict=True))) if rows else None

    def summary(self, since: str | None = None, until: str | None = None) -> dict[str, Any]:
        """Totals over a period, per kind, per model and per day (Wh and gCO2e)."""
        rows = self.rows(since, until)

        def group(key: str) -> list[dict[str, Any]]:
            out: dict[str, dict[str, Any]] = {}
            for r in rows:
                name = r[key] or ""
                g = out.setdefault(name, {key: name, "wh": 0.0, "gco2e": 0.0, "count": 0, "estimated": False})
                g["wh"] += r["wh"]
                g["gco2e"] += r["gco2e"]
                g["count"] += r["count"]
                g["estimated"] = g["estimated"] or r["estimated"]
            return sorted(out.values(), key=lambda g: (-g["wh"], g[key]))

        methods = sorted({r["method"] for r in rows})
        return {"since": _day(since, "since"), "until": _day(until, "until"),
                "total": {"wh": sum(r["wh"] for r in rows), "gco2e": sum(r["gco2e"] for r in rows),
                          "count": sum(r["count"] for r in rows),
                          "estimated": any(r["estimated"] for r in rows)},
                "by_kind": group("kind"), "by_model": group("model"),
                "by_day": sorted(group("day"), key=lambda g: g["day"]), "methods": methods,
                "grid_intensity": float(self.settings.grid_intensity), "grid_intensity_source": self.intensity_source()}

    def intensity_source(self) -> str:
        """Where the current grid intensity comes from."""
        source = self.settings.source("grid_intensity") if hasattr(self.settings, "source") else "default"
        return GRID_INTENSITY_SOURCE if source == "default" else f"set by you ({source})"

    def export_csv(self, since: str | None = None, until: str | None = None, kind: str | None = None) -> dict[str, Any]:
        """Every row of the period as CSV (columns ``COLUMNS``), as a file to save."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in self.rows(since, until, kind):
            writer.writerow({k: ("" if r[k] is None else repr(r[k]) if isinstance(r[k], float) else r[k])
                             for k in COLUMNS})
        name = "energy" + (f"-{_day(since, 'since')}" if since else "") + (f"-{_day(until, 'until')}" if until else "")
        return {"format": "csv", "filename": f"{name}.csv", "media_type": "text/csv", "content": buf.getvalue()}

    def _where(self, since: str | None, until: str | None, kind: str | None) -> tuple[str, list[Any]]:
        clauses, args = [], []
        for op, value, name in ((">=", since, "since"), ("<=", until, "until")):
            day = _day(value, name)
            if day is not None:
                clauses.append(f"day {op} ?")
                args.append(day)
        if kind:
            clauses.append("kind = ?")
            args.append(kind)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def parse_csv(text: str) -> list[dict[str, Any]]:
    """Rows of an ``export_csv`` file as numbers again (the inverse of the export)."""
    out = []
    for raw in csv.DictReader(io.StringIO(text)):
        row: dict[str, Any] = dict(raw)
        for key in ("started_at", "ended_at", "seconds", "wh", "gpu_wh", "cpu_wh", "grid_intensity", "gco2e"):
            row[key] = float(row[key]) if row[key] not in ("", None) else None
        row["count"] = int(row["count"])
        row["estimated"] = row["estimated"] == "True"
        out.append(row)
    return out


def _row(r: dict[str, Any]) -> dict[str, Any]:
    r["estimated"] = bool(r["estimated"])
    return r


def _model_of(job: Any) -> str | None:
    p = getattr(job, "params", None) or {}
    return p.get("model") or p.get("base") or None
