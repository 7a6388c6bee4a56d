"""Text for disk use and energy (CLI ``du`` / ``energy`` and the ``%studio`` magics' text fallback)."""

from __future__ import annotations

from typing import Any

from ._format import table
from .core.units import human_size


def disk_text(report: dict[str, Any]) -> str:
    """Stores as a table, then duplicates and what could be freed."""
    rows = [(s["label"], s["root"], s["files"], human_size(s["bytes"]),
             "studio" if s["owned"] else "read-only") for s in report["stores"] if s["exists"]]
    lines = [table(("store", "root", "files", "size", "owner"), rows, max_width=60),
             f"total: {human_size(report['total_bytes'])}"]
    dups = report["duplicates"]
    if dups:
        lines.append("")
        lines.append(f"duplicates ({len(dups)}, {human_size(report['duplicate_bytes'])} in extra copies):")
        for d in dups:
            lines.append(f"  {d['sha256'][:12]}  {human_size(d['size'])}")
            for c in d["copies"]:
                mark = "  (freeable)" if c["freeable"] else ""
                lines.append(f"    {c['store_label']}: {c['path']}{mark}")
    f = report["freeable"]
    lines += ["", "could be freed:",
              f"  duplicate copies the studio owns  {human_size(f['duplicates'])}",
              f"  partial downloads                 {human_size(f['partial_downloads']['bytes'])}",
              f"  failed or stopped jobs' files     {human_size(f['job_leftovers']['bytes'])}",
              f"  videos older than {f['old_videos']['older_than_days']:g} days         "
              f"{human_size(f['old_videos']['bytes'])}",
              f"  total                             {human_size(f['total'])}"]
    return "\n".join(lines)


def energy_text(summary: dict[str, Any]) -> str:
    """Totals, then per kind, per model and per day (Wh and gCO2e)."""
    t = summary["total"]
    est = " (includes estimates)" if t["estimated"] else ""
    period = f"{summary['since'] or 'start'} to {summary['until'] or 'today'}"
    lines = [f"energy {period}: {t['wh']:.3f} Wh, {t['gco2e']:.3f} gCO2e over {t['count']} jobs and answers{est}",
             f"grid intensity: {summary['grid_intensity']:g} gCO2e/kWh ({summary['grid_intensity_source']})",
             f"methods: {', '.join(summary['methods']) or '-'}"]
    for key, title in (("by_kind", "kind"), ("by_model", "model"), ("by_day", "day")):
        groups = summary[key]
        if groups:
            lines.append("")
            lines.append(table((title, "Wh", "gCO2e", "count", "estimated"),
                               [(g[title] or "-", f"{g['wh']:.3f}", f"{g['gco2e']:.3f}", g["count"],
                                 "yes" if g["estimated"] else "no") for g in groups], max_width=60))
    return "\n".join(lines)
