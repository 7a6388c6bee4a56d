"""``%studio`` (the dashboard), ``%studio jobs``, ``system``, ``host``, ``du`` and ``energy``."""

from __future__ import annotations

from typing import Any

from .._format import human_duration, human_rate, human_size, system_text, versions_text
from .._views import Table, TextView
from ..core.jobs import ACTIVE
from ._base import Handlers
from ._commands import DashboardArgs, DuArgs, EnergyArgs, HostArgs, JobsArgs, SystemArgs


class SystemHandlers(Handlers):
    def handle_dashboard(self, args: DashboardArgs) -> Any:
        if self.notebook:
            from ..widgets import Studio

            return Studio()
        eng = self._engine()
        local = eng.library.list_local()
        active = eng.jobs.list(states=ACTIVE)
        lines = [f"{len(local)} local model(s): " + (", ".join(m.id for m in local[:10]) or "-"),
                 f"{len(active)} active job(s)" + "".join(f"\n  {j.id} {j.title} {j.state.value}" for j in active),
                 system_text(eng.system.snapshot()),
                 "(the dashboard is a widget: run %studio in JupyterLab or Notebook)"]
        return TextView("\n".join(lines))

    def handle_jobs(self, args: JobsArgs) -> Table:
        eng = self._engine()
        jobs = eng.jobs.list(args.kind, states=ACTIVE if args.active else None, limit=args.limit)
        rows = []
        for j in jobs:
            p = j.progress
            pct = f"{p.fraction * 100:.0f}%" if p.fraction is not None else ""
            if p.total and p.unit == "bytes":
                done = f"{pct} {human_size(p.done)}/{human_size(p.total)}"
            else:
                done = f"{pct} {p.done:g}/{p.total:g} {p.unit}" if p.total else pct
            rows.append((j.id, j.kind, j.title, j.state.value, done,
                         human_rate(p.rate) if j.active else "", human_duration(p.eta) if j.active and p.eta else ""))
        return Table(("id", "kind", "title", "state", "progress", "rate", "eta"), rows,
                     empty="no active jobs" if args.active else "no jobs yet")

    def handle_system(self, args: SystemArgs) -> Any:
        if args.versions:
            return TextView(versions_text(self._engine().system.versions()))
        if self.notebook:
            from ..widgets import SystemMonitor

            return SystemMonitor()
        return TextView(system_text(self._engine().system.snapshot()))

    def handle_host(self, args: HostArgs) -> TextView:
        from ..core.host.status import status_text

        eng = self._engine()
        if args.action == "stop":
            return TextView("model host stopped" if eng.host.stop()["stopped"] else "no model host was running")
        if args.action == "logs":
            logs = eng.host.logs(args.lines)
            return TextView(logs["log"] or f"(no log yet at {logs['path']})")
        return TextView(status_text(eng.host.status()))

    def handle_du(self, args: DuArgs) -> TextView:
        from .._usage_text import disk_text

        eng = self._engine()
        if args.free:
            done = eng.disk.free(args.free, args.path)
            return TextView(f"freed {human_size(done['bytes_freed'])} ({args.free})")
        return TextView(disk_text(eng.disk.report(duplicates=not args.no_duplicates)))

    def handle_energy(self, args: EnergyArgs) -> TextView:
        from .._usage_text import energy_text

        return TextView(energy_text(self._engine().energy.summary(args.since, args.until)))
