"""The base of every notebook widget: bundle lookup, the call protocol and live events.

Messages between the widget's JavaScript and this class (custom messages, beside the synced
traitlets) always carry an ``{id, kind}`` envelope:

- front end → kernel: ``{"id", "kind": "call", "method", "params"}``, where ``method`` names an
  operation of ``model_studio.api`` (the same table the REST API is built from);
- kernel → front end: ``{"id", "kind": "result", "result"}`` or
  ``{"id", "kind": "error", "error": {"type", "message", "details", "resolution_steps"}}``;
- kernel → front end, unasked: ``{"kind": "event", "type": "job", "data": job}`` for every job
  change in any process, and ``{"kind": "event", "type": "system", "data": snapshot}`` every
  ``interval`` seconds for widgets that show the machine.

Calls run in worker threads, so a slow Hub or a large delete never blocks the kernel.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, ClassVar

import anywidget
import traitlets

from .. import api
from ..errors import StudioError

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent.parent / "static"

_MISSING_BUNDLE_ESM = """
export default {
  render({ el }) {
    const box = document.createElement("div");
    box.style.cssText = "padding:8px 12px;border:1px solid #d9a400;background:#fff8e1;" +
      "color:#5d4300;border-radius:4px;font-family:sans-serif;font-size:13px";
    box.textContent = "model-studio: widget bundle not built (static/%s is missing); " +
      "run `make setup` (or `pip install -e .`) and restart the kernel.";
    el.appendChild(box);
  },
};
"""


def bundle_esm(name: str) -> Path | str:
    """The built bundle ``static/<name>``, or a module that says it is missing (never raises)."""
    path = STATIC / name
    return path if path.is_file() else _MISSING_BUNDLE_ESM % name


def internal_error(exc: BaseException, method: Any = None) -> dict[str, Any]:
    """An unexpected exception in the shape of a ``StudioError`` (for the error banner)."""
    return {
        "type": "InternalError",
        "message": f"{type(exc).__name__}: {exc}",
        "details": {"method": method} if method is not None else {},
        "resolution_steps": ["This is a bug in model-studio; the kernel log has the traceback"],
    }


class StudioWidget(anywidget.AnyWidget):
    """Common base: ``_bundle`` names the JS file in ``static/``; ``engine`` defaults to the
    kernel's shared ``model_studio.engine()``."""

    #: File name of the widget's bundle in ``static/`` (subclasses set it).
    _bundle: ClassVar[str] = ""
    #: Push ``job`` events (every job change, from every process) while alive.
    _job_events: ClassVar[bool] = True
    #: Push ``system`` events every ``interval`` seconds while alive.
    _system_events: ClassVar[bool] = False

    #: The last error a call or an event source met, shown as a banner (empty: none).
    error = traitlets.Dict().tag(sync=True)
    #: Seconds between ``system`` events (widgets that show the machine).
    interval = traitlets.Float(2.0).tag(sync=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # anywidget turns a file path in the class dict into watched file contents, so the bundle
        # is chosen before its hook runs; a missing bundle becomes a readable message instead.
        bundle = cls.__dict__.get("_bundle")
        if bundle:
            cls._esm = bundle_esm(bundle)
            css = STATIC / "studio.css"
            if css.is_file():
                cls._css = css
        super().__init_subclass__(**kwargs)

    def __init__(self, *, engine: Any = None, **kwargs: Any) -> None:
        self._closed = threading.Event()
        self._unsubscribe_jobs: Any = None
        if engine is None:
            from .. import get_engine

            engine = get_engine()
        self._engine = engine
        super().__init__(**kwargs)
        self.on_msg(self._on_custom_msg)
        if self._job_events:
            self._unsubscribe_jobs = engine.feed.subscribe(self._on_job)
        if self._system_events:
            threading.Thread(target=self._system_loop, name=f"{type(self).__name__}-system",
                             daemon=True).start()

    @property
    def engine(self) -> Any:
        """The ``Engine`` this widget drives (shared by every widget of the kernel by default)."""
        return self._engine

    @traitlets.validate("interval")
    def _check_interval(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 0.2 <= value <= 3600:
            raise traitlets.TraitError("interval must be between 0.2 and 3600 seconds")
        return value

    # Calls -------------------------------------------------------------------------------------

    def _on_custom_msg(self, _widget: Any, content: Any, _buffers: Any = None) -> None:
        if not isinstance(content, dict) or content.get("kind") != "call":
            if isinstance(content, dict) and "id" in content:
                self._reply(content["id"], error={
                    "type": "ValidationError", "message": f"Unknown message kind {content.get('kind')!r}",
                    "details": {"kind": content.get("kind")}, "resolution_steps": []})
            return
        threading.Thread(target=self._run_call, args=(content,), name="studio-widget-call",
                         daemon=True).start()

    def _run_call(self, msg: dict[str, Any]) -> None:
        call_id, method = msg.get("id"), msg.get("method")
        try:
            result = api.call(self._engine, method, msg.get("params"))
        except StudioError as exc:
            self._reply(call_id, error=exc.to_dict()["error"])
        except Exception as exc:  # a bug must become a banner, never a dead kernel
            log.exception("widget call %s failed", method)
            self._reply(call_id, error=internal_error(exc, method))
        else:
            self._reply(call_id, result=result)

    def _reply(self, call_id: Any, *, result: Any = None, error: dict[str, Any] | None = None) -> None:
        if error is not None:
            self.error = error
            self._send_message({"id": call_id, "kind": "error", "error": error})
        else:
            self._send_message({"id": call_id, "kind": "result", "result": result})

    def _send_message(self, content: dict[str, Any]) -> None:
        if self._closed.is_set():
            return
        try:
            self.send(content)
        except Exception:  # a closed comm or a kernel shutting down
            log.debug("widget send failed", exc_info=True)

    # Events ------------------------------------------------------------------------------------

    def _wants_job(self, job: Any) -> bool:
        return True

    def _on_job(self, job: Any) -> None:
        if self._wants_job(job):
            self._send_message({"kind": "event", "type": "job", "data": job.to_dict()})

    def _system_loop(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._engine.system.snapshot().to_dict()
            except Exception as exc:
                log.debug("system snapshot failed", exc_info=True)
                self.error = exc.to_dict()["error"] if isinstance(exc, StudioError) else internal_error(exc)
            else:
                self._send_message({"kind": "event", "type": "system", "data": data})
            self._closed.wait(self.interval)

    # Life cycle --------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the events and the threads, then close the comm."""
        closed = getattr(self, "_closed", None)  # ipywidgets may close a half-built widget
        if closed is not None:
            closed.set()
        unsubscribe, self._unsubscribe_jobs = getattr(self, "_unsubscribe_jobs", None), None
        if unsubscribe is not None:
            unsubscribe()
        super().close()

    @property
    def closed(self) -> bool:
        """True once ``close()`` ran: no more events are sent."""
        return self._closed.is_set()

    def _summary(self) -> str:
        return ""

    def __repr__(self) -> str:
        """The ``text/plain`` view (terminals, and front ends without widgets)."""
        summary = self._summary()
        hint = "a model-studio widget: display it in JupyterLab or Notebook to use it"
        return f"{type(self).__name__}({summary}) - {hint}" if summary else f"{type(self).__name__}() - {hint}"
