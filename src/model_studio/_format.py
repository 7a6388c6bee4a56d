"""Text formatting shared by the terminal front doors (CLI, and magics' text fallback)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .core.units import human_size  # the one size formatter, re-exported for the front doors


def human_rate(bytes_per_s: float | None) -> str:
    return "-" if not bytes_per_s else f"{human_size(bytes_per_s)}/s"


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def human_count(n: int | None) -> str:
    """A parameter count: ``135M``, ``1.5B``."""
    if not n:
        return "-"
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            value = n / div
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return str(n)


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, max_width: int = 48) -> str:
    """A plain aligned text table; cells longer than ``max_width`` characters are clipped."""
    cells = [[clip("-" if c is None or c == "" else str(c), max_width) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def system_text(s: Any) -> str:
    """A ``SystemSnapshot`` as a few lines: CPU, RAM, swap, disks, then each GPU and its processes."""
    load = f" (load {' '.join(f'{x:.2f}' for x in s.load_average)})" if s.load_average else ""
    lines = [
        f"CPU    {s.cpu_percent:.1f}% of {s.cpu_count} cores{load}",
        f"RAM    {human_size(s.memory_used)} used of {human_size(s.memory_total)} ({s.memory_percent:.0f}%), "
        f"{human_size(s.memory_available)} available",
        f"swap   {human_size(s.swap_used)} used of {human_size(s.swap_total)}",
    ]
    lines += [f"disk   {d['path']}: {human_size(d['free'])} free of {human_size(d['total'])}" for d in s.disks]
    if not s.gpus:
        lines.append(f"GPU    no GPU ({s.gpu_error or 'none detected'})")
    for g in s.gpus:
        util = f"{g.utilization:.0f}%" if g.utilization is not None else "-"
        extras = [f"{g.temperature:.0f} °C" if g.temperature is not None else "",
                  f"{g.power:.0f} W" if g.power is not None else ""]
        lines.append(f"GPU {g.index}  {g.name}: util {util}, memory {human_size(g.memory_used)} / "
                     f"{human_size(g.memory_total)}" + "".join(f", {e}" for e in extras if e))
        for p in g.processes:
            kernel = f" (kernel {p.kernel_id})" if p.kernel_id else ""
            lines.append(f"         pid {p.pid} {p.name} {human_size(p.used_memory)}{kernel}")
    return "\n".join(lines)


def backends_text(backends: list[dict[str, Any]]) -> str:
    """``Library.backends()`` as a table, then install hints and suggested models."""
    def stat(b: dict[str, Any], key: str) -> Any:
        return (b.get("stats") or {}).get(key, "-")

    rows = [(b["name"], b["version"] or ("yes" if b["installed"] else "no"), "yes" if b["gpu"] else "no",
             b["local_models"], stat(b, "loaded_models"), stat(b, "downloads_completed"),
             stat(b, "downloads_failed"),
             human_size(b["stats"]["bytes_on_disk"]) if b.get("stats") else "-") for b in backends]
    lines = [table(("backend", "installed", "gpu", "local models", "loaded", "downloads ok", "failed",
                    "on disk"), rows)]
    for b in backends:
        if not b["installed"]:
            lines.append(f"{b['name']}: install with {b['install']}")
        for s in b["suggestions"]:
            model = f"{s['id']}:{s['quantization']}" if s["quantization"] else s["id"]
            lines.append(f"  {b['name']} suggests {model}: {s['message']}")
    return "\n".join(lines)


def versions_text(v: dict[str, Any]) -> str:
    """``SystemMonitor.versions()`` as lines: OS, Python, CUDA, cuDNN, the driver, llama.cpp, then packages."""
    os_ = v["os"]
    torch, llama = v["torch"], v["llama_cpp"]
    built = [name for name in ("cuda", "metal", "vulkan") if llama.get(name)]
    llama_text = "not installed" if not llama.get("version") else (
        f"{llama['version']} (GPU offload: {'yes' if llama.get('gpu_offload') else 'no'}"
        + (f"; built with {', '.join(b.upper() if b == 'cuda' else b.title() for b in built)}" if built else "")
        + ")")
    rows = [("OS", os_.get("distribution") or f"{os_['system']} {os_['release']}", os_["machine"]),
            ("Python", v["python"]["version"], v["python"]["implementation"]),
            ("CUDA (torch)", torch.get("cuda") or "-",
             "" if torch.get("cuda_available") is None else f"available: {'yes' if torch['cuda_available'] else 'no'}"),
            ("cuDNN", torch.get("cudnn") or "-", ""),
            ("NVIDIA driver", v.get("nvidia_driver") or "-", ""),
            ("llama.cpp", llama_text, "")]
    rows += [(name, version or "not installed", "") for name, version in v["packages"].items() if name != "llama_cpp"]
    return table(("component", "version", "note"), rows, max_width=72)


def settings_text(s: dict[str, Any]) -> str:
    """``Engine.settings_dict()`` as a table of name, value, source and whether it can change at run time,
    then what was wrong with settings.json and what changed."""
    mutable = set(s.get("mutable", []))
    sources = s.get("sources", {})
    rows = [(name, value if not isinstance(value, list) else ", ".join(map(str, value)) or "[]",
             sources.get(name, ""), "yes" if name in mutable else "")
            for name, value in s["settings"].items()]
    lines = [table(("setting", "value", "source", "mutable"), rows, max_width=72)]
    for e in s.get("file_errors", []):
        lines.append(f"settings.json: {e['message']}")
    prefix = "would change" if s.get("dry_run") else "changed"
    for name, c in s.get("changed", {}).items():
        lines.append(f"{prefix} {name}: {c['from']} -> {c['to']}")
    return "\n".join(lines)
