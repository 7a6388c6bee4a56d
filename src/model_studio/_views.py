"""Small result objects for the magics: HTML in a notebook, aligned text in a terminal."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from ._format import table


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


class TextView:
    """Preformatted text (``text/plain`` and a ``<pre>`` for notebooks)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self.text, "text/html": f"<pre>{html.escape(self.text)}</pre>"}

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


class Table:
    """Rows under headers. ``rows`` keeps the raw values; ``note`` is a line under the table."""

    def __init__(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str = "(none)",
                 note: str | None = None) -> None:
        self.headers = tuple(headers)
        self.rows = [tuple(r) for r in rows]
        self.empty = empty
        self.note = note

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def column(self, name: str) -> list[Any]:
        """The values of one column, e.g. ``table.column("id")``."""
        i = self.headers.index(name)
        return [r[i] for r in self.rows]

    def to_text(self) -> str:
        text = table(self.headers, self.rows, max_width=60) if self.rows else self.empty
        return f"{text}\n({self.note})" if self.note else text

    def to_html(self) -> str:
        if not self.rows:
            body = f"<p>{html.escape(self.empty)}</p>"
        else:
            head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in self.headers)
            rows = "".join("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(_cell(c))}</td>" for c in r)
                           + "</tr>" for r in self.rows)
            body = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        if self.note:
            body += f"<p><em>{html.escape(self.note)}</em></p>"
        return body

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self.to_text(), "text/html": self.to_html()}

    def __repr__(self) -> str:
        return self.to_text()


class InfoView:
    """One model: facts, quantizations, files and the memory-fit verdict."""

    def __init__(self, model: str, facts: list[tuple[str, Any]], quantizations: Table, files: Table,
                 fit: str) -> None:
        self.model, self.facts, self.quantizations, self.files, self.fit = model, facts, quantizations, files, fit

    def to_text(self) -> str:
        parts = [self.model] + [f"  {k:<15} {v}" for k, v in self.facts]
        for title, t in (("quantizations", self.quantizations), ("files", self.files)):
            if t.rows:
                parts += ["", f"{title}:"] + ["  " + line for line in t.to_text().splitlines()]
        parts += ["", f"fit: {self.fit}"]
        return "\n".join(parts)

    def to_html(self) -> str:
        facts = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                        f"{html.escape(_cell(v))}</td></tr>" for k, v in self.facts)
        out = [f"<h4>{html.escape(self.model)}</h4>", f"<table>{facts}</table>"]
        for title, t in (("Quantizations", self.quantizations), ("Files", self.files)):
            if t.rows:
                out += [f"<h5>{title}</h5>", t.to_html()]
        out.append(f"<p><strong>Fit:</strong> {html.escape(self.fit)}</p>")
        return "".join(out)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self.to_text(), "text/html": self.to_html()}

    def __repr__(self) -> str:
        return self.to_text()


class VideoView:
    """A finished generation: the video inline (an embedded ``<video>``) with its settings; in a
    terminal, the path and the settings. ``job`` and ``path`` are the generation and its MP4."""

    #: Larger videos are linked by path instead of embedded in the notebook.
    MAX_EMBED_BYTES = 50 << 20

    def __init__(self, job: Any) -> None:
        self.job = job
        result = job.result or {}
        self.path = result.get("video")
        p = job.params
        self.caption = (f"{p.get('model')} · {p.get('width')}×{p.get('height')} · {result.get('frames')} frames "
                        f"@ {result.get('fps')} fps · {p.get('steps')} steps · guidance {p.get('guidance')} · "
                        f"seed {p.get('seed')} · {result.get('elapsed', 0):.1f} s")
        if result.get("energy_wh") is not None:
            self.caption += f" · {result['energy_wh']:.2f} Wh"

    def to_text(self) -> str:
        return f"{self.path}\n{self.caption}"

    def to_html(self) -> str:
        import base64
        from pathlib import Path

        path = Path(self.path or "")
        caption = f"<div style='font-size:12px;opacity:.8'>{html.escape(self.caption)}</div>"
        if not path.is_file() or path.stat().st_size > self.MAX_EMBED_BYTES:
            return f"<p>{html.escape(str(path))}</p>{caption}"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return (f"<video controls autoplay loop muted playsinline style='max-width:100%' "
                f"src='data:video/mp4;base64,{data}'></video>{caption}")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self.to_text(), "text/html": self.to_html()}

    def __repr__(self) -> str:
        return self.to_text()
