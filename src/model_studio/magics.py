"""``%studio``: the studio from any IPython front end.

``%load_ext model_studio`` registers the line magic::

    %studio                                         the dashboard (Studio widget)
    %studio models [--local] [--search TEXT] [--task T] [--limit N]
    %studio info REPO
    %studio pull REPO [--quant Q] [--revision REV]
    %studio rm REPO [--yes]
    %studio jobs [--active] [--limit N]
    %studio system
    %studio chat MODEL                              the chat playground (ChatPlayground widget)
    %studio train --model M --data FILE [--steps N] [--lr X] [--rank R]
                                                    LoRA fine-tune (TrainingMonitor widget)
    %studio runs [--limit N]                        training runs, newest first
    %studio video "PROMPT" --model M [--frames N] [--width W] [--height H] [--steps S] [--guidance G]
                  [--seed S] [--fps F] [--negative TEXT] [--image PATH] [--lora PATH] [--lora-scale X]
                  [--offload auto|none|model|sequential|cpu] [--download]
                                                    generate a video: progress, then the video inline
    %studio videos [--limit N]                      past generations, newest first

and the cell magic ``%%chat MODEL [--temperature T] [--max-tokens N] [--system TEXT] [--seed S]``,
whose body is the prompt (``{name}`` is filled from the notebook's variables); it streams the answer
into the cell output and returns it (a ``str``), so the next cell can use ``_``.

Each command is parsed into a typed object and run by one ``handle_<command>`` method, which
calls the engine and returns something with ``_repr_mimebundle_`` (an HTML table in a notebook,
text in a terminal) or a widget. In a notebook front end (an ipykernel ``ZMQInteractiveShell``)
``pull``, ``system`` and the dashboard show widgets; elsewhere they fall back to text and a tqdm
bar. A user error prints one line on stderr (plus the usage line for bad arguments), never a
traceback, and the magic returns None.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from dataclasses import dataclass, fields
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.display import Markdown, display

from ._format import human_count, human_duration, human_rate, human_size, system_text
from ._views import InfoView, Table, TextView
from .engine.library import TASKS
from .errors import StudioError, error_from_dict

log = logging.getLogger(__name__)


def in_notebook(shell: Any) -> bool:
    """True when ``shell`` is an ipykernel kernel (a front end that renders widgets)."""
    try:
        from ipykernel.zmqshell import ZMQInteractiveShell
    except ImportError:  # plain IPython without ipykernel
        return False
    return isinstance(shell, ZMQInteractiveShell)


# --- arguments ----------------------------------------------------------------------------------


class _UsageError(Exception):
    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


class _HelpShown(Exception):
    """``--help`` printed the help text; nothing more to do."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises instead of exiting the kernel."""

    def error(self, message: str):  # type: ignore[override]
        raise _UsageError(message, self.one_line_usage())

    def one_line_usage(self) -> str:
        return " ".join(self.format_usage().split())

    def exit(self, status: int = 0, message: str | None = None):  # type: ignore[override]
        if message:
            print(message, file=sys.stderr, end="")
        raise _HelpShown()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


@dataclass(frozen=True)
class DashboardArgs:
    pass


@dataclass(frozen=True)
class ModelsArgs:
    local: bool = False
    search: str = ""
    task: str | None = None
    limit: int = 20


@dataclass(frozen=True)
class InfoArgs:
    model: str


@dataclass(frozen=True)
class PullArgs:
    model: str
    quant: str | None = None
    revision: str | None = None


@dataclass(frozen=True)
class RmArgs:
    model: str
    yes: bool = False


@dataclass(frozen=True)
class JobsArgs:
    active: bool = False
    limit: int = 20


@dataclass(frozen=True)
class SystemArgs:
    pass


@dataclass(frozen=True)
class ChatArgs:
    model: str


@dataclass(frozen=True)
class TrainArgs:
    model: str
    data: str
    steps: int | None = None
    lr: float | None = None
    rank: int | None = None


@dataclass(frozen=True)
class RunsArgs:
    limit: int = 20


@dataclass(frozen=True)
class VideoArgs:
    prompt: str
    model: str
    frames: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    seed: int | None = None
    fps: int | None = None
    negative: str = ""
    image: str | None = None
    lora: str | None = None
    lora_scale: float = 1.0
    offload: str = "auto"
    download: bool = False


@dataclass(frozen=True)
class VideosArgs:
    limit: int = 20


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {value}")
    return value


def build_parser() -> _Parser:
    parser = _Parser(prog="%studio", description="The model studio: models, downloads, system.")
    parser.set_defaults(command="dashboard", args_type=DashboardArgs)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, args_type: type, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(args_type=args_type)
        return p

    p = add("models", ModelsArgs, "search the catalog, the Hub and local models")
    p.add_argument("--local", action="store_true", help="only models on this machine")
    p.add_argument("--search", default="", metavar="TEXT", help="search text")
    p.add_argument("--task", choices=TASKS)
    p.add_argument("--limit", type=_positive_int, default=20, metavar="N")
    p = add("info", InfoArgs, "files, quantizations and fit of one model")
    p.add_argument("model", metavar="REPO")
    p = add("pull", PullArgs, "download a model, showing its progress")
    p.add_argument("model", metavar="REPO", help="org/name[@revision][:QUANT]")
    p.add_argument("--quant", metavar="Q", help="GGUF quantization, e.g. Q4_K_M")
    p.add_argument("--revision", metavar="REV", help="branch, tag or commit")
    p = add("rm", RmArgs, "delete a model from the cache")
    p.add_argument("model", metavar="REPO")
    p.add_argument("--yes", "-y", action="store_true", help="delete without asking")
    p = add("jobs", JobsArgs, "downloads and other jobs, newest first")
    p.add_argument("--active", action="store_true", help="only queued and running jobs")
    p.add_argument("--limit", type=_positive_int, default=20, metavar="N")
    add("system", SystemArgs, "CPU, RAM, disks and GPUs")
    p = add("chat", ChatArgs, "the chat playground for one model")
    p.add_argument("model", metavar="MODEL", help="org/name[:QUANT] or local/<name>")
    p = add("train", TrainArgs, "LoRA fine-tune a model on a data file, showing its progress")
    p.add_argument("--model", required=True, metavar="MODEL", help="the base: org/name or local/<name>")
    p.add_argument("--data", required=True, metavar="FILE", help="a JSONL, CSV or Parquet file")
    p.add_argument("--steps", type=_positive_int, metavar="N", help="optimizer steps")
    p.add_argument("--lr", type=_positive_float, metavar="X", help="learning rate")
    p.add_argument("--rank", type=_positive_int, metavar="R", help="LoRA rank")
    p = add("runs", RunsArgs, "training runs, newest first")
    p.add_argument("--limit", type=_positive_int, default=20, metavar="N")
    p = add("video", VideoArgs, "generate a video from a prompt (and an image), showing progress, then the video")
    p.add_argument("prompt", metavar="PROMPT", help="what the video shows (quote it)")
    p.add_argument("--model", required=True, metavar="MODEL", help="a diffusers video model: org/name")
    p.add_argument("--frames", type=_positive_int, metavar="N", help="number of frames (e.g. 4k+1 for Wan)")
    p.add_argument("--width", type=_positive_int, metavar="W")
    p.add_argument("--height", type=_positive_int, metavar="H")
    p.add_argument("--steps", type=_positive_int, metavar="S", help="denoising steps")
    p.add_argument("--guidance", type=float, metavar="G", help="classifier-free guidance scale")
    p.add_argument("--seed", type=int, metavar="S", help="default: random (saved with the video)")
    p.add_argument("--fps", type=_positive_int, metavar="F")
    p.add_argument("--negative", default="", metavar="TEXT", help="negative prompt")
    p.add_argument("--image", metavar="PATH", help="input image (image-to-video)")
    p.add_argument("--lora", metavar="PATH", help="LoRA weights (.safetensors)")
    p.add_argument("--lora-scale", dest="lora_scale", type=float, default=1.0, metavar="X")
    p.add_argument("--offload", default="auto", choices=("auto", "none", "model", "sequential", "cpu"))
    p.add_argument("--download", action="store_true", help="download the model first when it is not local")
    p = add("videos", VideosArgs, "past video generations, newest first")
    p.add_argument("--limit", type=_positive_int, default=20, metavar="N")
    return parser


@dataclass(frozen=True)
class ChatCellArgs:
    model: str
    temperature: float | None = None
    max_tokens: int | None = None
    system: str | None = None
    seed: int | None = None


def build_chat_parser() -> _Parser:
    parser = _Parser(prog="%%chat", description="Stream a model's answer to the cell's prompt.")
    parser.add_argument("model", metavar="MODEL", help="org/name[:QUANT] or local/<name>")
    parser.add_argument("--temperature", type=float, metavar="T")
    parser.add_argument("--max-tokens", dest="max_tokens", type=_positive_int, metavar="N")
    parser.add_argument("--system", metavar="TEXT", help="the system prompt")
    parser.add_argument("--seed", type=int, metavar="S")
    return parser


def parse_chat(line: str) -> ChatCellArgs:
    parser = build_chat_parser()
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise _UsageError(str(exc), parser.one_line_usage()) from None
    return ChatCellArgs(**vars(parser.parse_args(words)))


class _MissingName(KeyError):
    pass


class _Names:
    """The user namespace for ``str.format_map``: a missing name raises ``_MissingName``."""

    def __init__(self, ns: dict[str, Any]) -> None:
        self.ns = ns

    def __getitem__(self, key: str) -> Any:
        try:
            return self.ns[key]
        except KeyError:
            raise _MissingName(key) from None


def interpolate(template: str, ns: dict[str, Any]) -> str:
    """``{name}`` (and ``{name.attr}``, ``{name[0]}``, ``{x:.2f}``) from ``ns``; ``{{`` is a brace."""
    try:
        return template.format_map(_Names(ns))
    except _MissingName as exc:
        raise _PromptError(f"NameError: {exc.args[0]!r} is not defined (used as {{{exc.args[0]}}} in the "
                           "%%chat prompt)") from None
    except (ValueError, IndexError, AttributeError, KeyError, TypeError) as exc:
        raise _PromptError(f"PromptError: cannot fill the %%chat prompt: {exc} "
                           "(write {{ and }} for literal braces)") from None


class _PromptError(Exception):
    """A prompt that cannot be interpolated: its message is the one line shown."""


def _stats_line(stats: dict[str, Any]) -> str:
    parts = [f"{stats.get('completion_tokens', 0)} tokens"]
    if stats.get("tokens_per_second"):
        parts.append(f"{stats['tokens_per_second']:.1f} tok/s")
    if stats.get("ttft") is not None:
        parts.append(f"TTFT {stats['ttft']:.2f} s")
    if stats.get("finish_reason") not in (None, "stop"):
        parts.append(str(stats["finish_reason"]))
    return " · ".join(parts)


class ChatAnswer(str):
    """The text of a ``%%chat`` answer (a ``str``), with ``stats`` and ``model`` attached.

    Its repr is the text itself. Once streamed into the cell output it does not display again.
    """

    model: str = ""
    stats: dict[str, Any]
    finish_reason: str | None = None
    _shown: bool = False

    def __repr__(self) -> str:
        return str(self)

    def _ipython_display_(self) -> None:
        if not self._shown:
            print(str(self))


def parse(line: str) -> Any:
    """``line`` as one of the ``*Args`` objects; raises ``_UsageError`` or ``_HelpShown``."""
    parser = build_parser()
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise _UsageError(str(exc), parser.one_line_usage()) from None
    ns = parser.parse_args(words)
    args_type = ns.args_type
    names = {f.name for f in fields(args_type)}
    return args_type(**{k: v for k, v in vars(ns).items() if k in names})


def _follow_steps(job: Any, postfix: Any) -> Any:
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


# --- the magic ----------------------------------------------------------------------------------


@magics_class
class StudioMagics(Magics):
    """``%studio [COMMAND] ...``: see the module docstring."""

    @line_magic
    def studio(self, line: str = "") -> Any:
        """The model studio: ``%studio`` (dashboard), ``models``, ``info``, ``pull``, ``rm``,
        ``jobs``, ``system``, ``chat``, ``train``, ``runs``, ``video``, ``videos``; ``%studio COMMAND --help``
        for each."""
        try:
            args = parse(line)
        except _HelpShown:
            return None
        except _UsageError as exc:
            print(f"UsageError: {exc}", file=sys.stderr)
            print(exc.usage, file=sys.stderr)
            return None
        handler = getattr(self, "handle_" + type(args).__name__.removesuffix("Args").lower())
        try:
            return handler(args)
        except StudioError as exc:
            print(exc.one_line(), file=sys.stderr)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
        except Exception as exc:  # never a traceback for the user; the log keeps it
            log.debug("%%studio %s failed", line, exc_info=True)
            print(f"Error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return None

    @property
    def notebook(self) -> bool:
        return in_notebook(self.shell)

    @staticmethod
    def _engine():
        from . import get_engine

        return get_engine()

    # Commands ----------------------------------------------------------------------------------

    def handle_dashboard(self, args: DashboardArgs) -> Any:
        if self.notebook:
            from .widgets import Studio

            return Studio()
        eng = self._engine()
        local = eng.library.list_local()
        active = eng.jobs.list(states=("queued", "running"))
        lines = [f"{len(local)} local model(s): " + (", ".join(m.id for m in local[:10]) or "-"),
                 f"{len(active)} active job(s)" + "".join(f"\n  {j.id} {j.title} {j.state.value}" for j in active),
                 system_text(eng.system.snapshot()),
                 "(the dashboard is a widget: run %studio in JupyterLab or Notebook)"]
        return TextView("\n".join(lines))

    def handle_models(self, args: ModelsArgs) -> Table:
        eng = self._engine()
        if args.local:
            models = eng.library.list_local()
            if args.search:
                needle = args.search.lower()
                models = [m for m in models if needle in m.id.lower()]
            if args.task:
                models = [m for m in models if m.task == args.task]
            rows = [(m.id, m.task, ",".join(m.formats), human_size(m.local_size),
                     ",".join(q.name for q in m.quantizations if q.local), m.local_path)
                    for m in models[: args.limit]]
            return Table(("id", "task", "formats", "size", "quants", "path"), rows,
                         empty="no local models; fetch one with %studio pull ORG/NAME")
        models = eng.library.search(args.search, task=args.task, limit=args.limit)
        rows = [(m.id, m.task, ",".join(m.formats), human_size(m.size), m.status, m.license,
                 ",".join(q.name for q in m.quantizations)) for m in models]
        note = None
        if models.hub_error:
            note = f"Hub unreachable, showing catalog and local models: {models.hub_error['message']}"
        return Table(("id", "task", "formats", "size", "status", "license", "quants"), rows,
                     empty="no models match", note=note)

    def handle_info(self, args: InfoArgs) -> InfoView:
        eng = self._engine()
        info = eng.library.info(args.model)
        try:
            fit = eng.library.fit(args.model)
            fit_line = f"{fit.verdict}: {fit.message}"
        except StudioError as exc:
            fit_line = f"unknown ({exc.message})"
        facts = [("task", info.task), ("status", info.status), ("license", info.license),
                 ("gated", "yes" if info.gated else None), ("parameters", human_count(info.parameters)),
                 ("context length", info.context_length), ("architecture", info.architecture),
                 ("formats", ",".join(info.formats)), ("backends", ",".join(info.backends)),
                 ("size", human_size(info.size)), ("path", info.local_path)]
        quants = Table(("quant", "size", "local"), [
            (("* " if q.name == info.default_quantization else "") + q.name, human_size(q.size),
             "local" if q.local else "") for q in info.quantizations])
        files = Table(("file", "size", "local"), [
            (f["path"], human_size(f.get("size")), "local" if f.get("local") else "") for f in info.files or []])
        return InfoView(info.id, [(k, v) for k, v in facts if v not in (None, "", "-")], quants, files, fit_line)

    def handle_pull(self, args: PullArgs) -> Any:
        eng = self._engine()
        job = eng.downloads.start(args.model, variant=args.quant, revision=args.revision)
        if self.notebook:
            from .widgets import Downloads

            display(Downloads(job_ids=[job.id]))
            return job
        return self._follow(eng, job)

    def _follow(self, eng: Any, job: Any) -> Any:
        """A tqdm bar until the download stops; Ctrl-C pauses it (the same pull resumes it)."""
        from ._progress import watch_download

        try:
            job = watch_download(eng, job, file=sys.stderr)
        except KeyboardInterrupt:
            if job.owner_pid == eng.jobs.owner_pid:
                job = eng.downloads.pause(job.id)
            print(f"paused {job.title}; run the same %studio pull to resume", file=sys.stderr)
            return job
        if job.state.value == "failed":
            raise error_from_dict(job.error or {"message": f"Download {job.id} failed"})
        if job.state.value == "completed":
            r = job.result or {}
            print(f"{r.get('path', '')}\nverified {r.get('verified', 0)} files ({human_size(r.get('bytes_total'))})")
        else:
            print(f"download {job.id} is {job.state.value}; run the same %studio pull to resume", file=sys.stderr)
        return job

    def handle_rm(self, args: RmArgs) -> None:
        eng = self._engine()
        plan = eng.library.delete(args.model, dry_run=True)
        summary = f"{plan['model']}: {human_size(plan['freed_bytes'])} would be freed " \
                  f"({len(plan['revisions'])} revision(s))"
        if not args.yes:
            if self.notebook or not sys.stdin or not sys.stdin.isatty():
                print(f"{summary}; re-run with --yes to delete: %studio rm {args.model} --yes")
                return None
            if input(f"{summary}. Delete? [y/N] ").strip().lower() not in ("y", "yes"):
                print("not deleted")
                return None
        done = eng.library.delete(args.model)
        print(f"freed {human_size(done['freed_bytes'])} ({done['model']})")
        return None

    def handle_jobs(self, args: JobsArgs) -> Table:
        eng = self._engine()
        jobs = eng.jobs.list(states=("queued", "running") if args.active else None, limit=args.limit)
        rows = []
        for j in jobs:
            p = j.progress
            pct = f"{p.fraction * 100:.0f}%" if p.fraction is not None else ""
            done = f"{pct} {human_size(p.done)}/{human_size(p.total)}" if p.total and p.unit == "bytes" else pct
            rows.append((j.id, j.kind, j.title, j.state.value, done,
                         human_rate(p.rate) if j.active else "", human_duration(p.eta) if j.active and p.eta else ""))
        return Table(("id", "kind", "title", "state", "progress", "rate", "eta"), rows,
                     empty="no active jobs" if args.active else "no jobs yet")

    def handle_chat(self, args: ChatArgs) -> Any:
        if self.notebook:
            from .widgets import ChatPlayground

            return ChatPlayground(model=args.model)
        return TextView(f"The chat playground is a widget: run `%studio chat {args.model}` in JupyterLab or "
                        f"Notebook, or use the %%chat cell magic:\n%%chat {args.model}\nYour question")

    @cell_magic
    def chat(self, line: str = "", cell: str = "") -> Any:
        """``%%chat MODEL [--temperature T] [--max-tokens N] [--system TEXT] [--seed S]``: the cell is
        the prompt (``{name}`` filled from the notebook); the answer streams into the output."""
        try:
            args = parse_chat(line)
        except _HelpShown:
            return None
        except _UsageError as exc:
            print(f"UsageError: {exc}", file=sys.stderr)
            print(exc.usage, file=sys.stderr)
            return None
        try:
            prompt = interpolate(cell.strip(), self.shell.user_ns if self.shell is not None else {})
        except _PromptError as exc:
            print(str(exc), file=sys.stderr)
            return None
        if not prompt:
            print("UsageError: the %%chat cell is empty: write the prompt below the %%chat line", file=sys.stderr)
            return None
        try:
            return self._chat(args, prompt)
        except StudioError as exc:
            print(exc.one_line(), file=sys.stderr)
        except Exception as exc:  # never a traceback for the user; the log keeps it
            log.debug("%%%%chat %s failed", line, exc_info=True)
            print(f"Error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return None

    def _chat(self, args: ChatCellArgs, prompt: str) -> ChatAnswer:
        import threading

        from .widgets.chat import open_stream

        eng = self._engine()
        messages = ([{"role": "system", "content": args.system}] if args.system else []) + \
            [{"role": "user", "content": prompt}]
        sampling = {k: v for k, v in (("temperature", args.temperature), ("max_tokens", args.max_tokens),
                                      ("seed", args.seed)) if v is not None}
        stop = threading.Event()
        notebook = self.notebook
        handle = None
        if notebook:
            handle = display(Markdown("*…*"), display_id=True)
        parts: list[str] = []
        tokens, finish_reason, first = 0, None, None
        started = time.monotonic()
        last_update = 0.0
        iterator = open_stream(eng.chat, args.model, messages, stop, sampling)
        interrupted = False
        try:
            for chunk in iterator:
                if chunk.text:
                    if first is None:
                        first = time.monotonic() - started
                    parts.append(chunk.text)
                    if not notebook:
                        print(chunk.text, end="", flush=True)
                tokens += int(getattr(chunk, "tokens", 1) or 0)
                finish_reason = getattr(chunk, "finish_reason", None) or finish_reason
                if handle is not None and time.monotonic() - last_update > 0.1:
                    handle.update(Markdown("".join(parts) + " ▌"))
                    last_update = time.monotonic()
        except KeyboardInterrupt:
            stop.set()
            interrupted = True
            finish_reason = "cancelled"
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        total = time.monotonic() - started
        gen = total - (first or 0.0)
        text = "".join(parts)
        stats = {"completion_tokens": tokens, "ttft": first, "total_time": total,
                 "tokens_per_second": tokens / gen if gen > 0 and tokens else None,
                 "finish_reason": finish_reason or "stop"}
        engine_stats = getattr(iterator, "stats", None)
        if engine_stats is not None and hasattr(engine_stats, "to_dict"):
            stats.update({k: v for k, v in engine_stats.to_dict().items() if v is not None})
        line = _stats_line(stats)
        if handle is not None:
            handle.update(Markdown((text or "*(empty answer)*") + f"\n\n*{line}*"))
        else:
            print(("\n" if parts else "") + f"[{line}]", flush=True)
        if interrupted:
            print("interrupted: the answer was stopped", file=sys.stderr)
        answer = ChatAnswer(text)
        answer.model, answer.stats, answer.finish_reason = args.model, stats, stats["finish_reason"]
        answer._shown = True
        return answer

    def handle_train(self, args: TrainArgs) -> Any:
        from pathlib import Path

        from .errors import NotFoundError

        eng = self._engine()
        path = Path(args.data).expanduser()
        if not path.is_file():
            raise NotFoundError(f"No data file at {args.data}", details={"path": str(path)},
                                resolution_steps=["Give the path of a JSONL, CSV or Parquet file"])
        info = eng.training.datasets.import_file(str(path), overwrite=True)
        name = info["name"] if isinstance(info, dict) else info.name
        config = {k: v for k, v in (("steps", args.steps), ("learning_rate", args.lr), ("lora_r", args.rank))
                  if v is not None}
        job = eng.training.start(args.model, name, **config)
        if self.notebook:
            from .widgets import TrainingMonitor

            display(TrainingMonitor(run_id=job.id))
            return job
        return self._follow_training(eng, job)

    def _follow_training(self, eng: Any, job: Any) -> Any:
        """A tqdm bar of steps (with the loss) until the run stops; Ctrl-C cancels it (resumable)."""

        def loss(p: Any) -> str:
            value = (p.detail or {}).get("loss")
            return f"loss={value:.4f}" if value is not None else ""

        try:
            job = _follow_steps(job, loss)
        except KeyboardInterrupt:
            job = eng.training.cancel(job.id)
            print(f"cancelling run {job.id}; resume it with ms.engine().training.resume({job.id!r})",
                  file=sys.stderr)
            return job
        if job.state.value == "failed":
            raise error_from_dict(job.error or {"message": f"Training run {job.id} failed"})
        if job.state.value == "completed":
            print(f"run {job.id} completed: chat with it as model 'run/{job.id}'")
        else:
            print(f"run {job.id} is {job.state.value}", file=sys.stderr)
        return job

    def handle_runs(self, args: RunsArgs) -> Table:
        eng = self._engine()
        rows = []
        for run in eng.training.runs()[: args.limit]:
            data = run if isinstance(run, dict) else run.to_dict()
            params = data.get("params") or {}
            progress = data.get("progress") or {}
            final = data.get("final_metrics") or {}
            result = data.get("result") or {}
            loss = final.get("loss") if isinstance(final, dict) else None
            if loss is None and isinstance(result, dict):
                loss = result.get("final_loss", result.get("loss"))
            if loss is None:
                loss = (progress.get("detail") or {}).get("loss")
            total = params.get("total_steps") or (params.get("config") or {}).get("steps") or progress.get("total")
            rows.append((data.get("id"), data.get("state"), params.get("base_model") or params.get("base"),
                         params.get("dataset_name") or params.get("dataset"),
                         f"{int(progress.get('done') or 0)}/{int(total) if total else '?'}",
                         f"{loss:.4f}" if isinstance(loss, (int, float)) else "",
                         f"run/{data.get('id')}" if data.get("state") == "completed" else ""))
        return Table(("id", "state", "base", "dataset", "steps", "loss", "chat model"), rows,
                     empty="no training runs yet; start one with %studio train --model M --data FILE")

    def handle_video(self, args: VideoArgs) -> Any:
        from .engine.refs import ModelRef
        from .errors import NotFoundError

        eng = self._engine()
        repo_id = ModelRef.parse(args.model).repo_id
        options = {"negative_prompt": args.negative, "image": args.image, "width": args.width, "height": args.height,
                   "num_frames": args.frames, "fps": args.fps, "steps": args.steps, "guidance": args.guidance,
                   "seed": args.seed, "lora": args.lora, "lora_scale": args.lora_scale, "offload": args.offload}
        try:
            job = eng.video.generate(repo_id, args.prompt, **options)
        except NotFoundError as exc:
            download = exc.details.get("download")
            if not download:
                raise
            if not args.download:
                size = human_size(download.get("size")) if download.get("size") else "size unknown"
                print(f"{repo_id} is not on this machine ({size}); download it first: %studio pull {repo_id} "
                      f"(or add --download)", file=sys.stderr)
                return None
            pulled = self._follow(eng, eng.downloads.start(repo_id))
            if pulled is None or pulled.state.value != "completed":
                return None
            job = eng.video.generate(repo_id, args.prompt, **options)
        return self._follow_video(eng, job)

    def _follow_video(self, eng: Any, job: Any) -> Any:
        """A tqdm bar of denoising steps (phase and ETA) until the clip is written; then the video.

        Ctrl-C (interrupting the kernel) cancels the generation between two steps.
        """
        from ._views import VideoView

        try:
            job = _follow_steps(job, lambda p: p.message or "")
        except KeyboardInterrupt:
            job = eng.video.cancel(job.id)
            print(f"cancelled generation {job.id}", file=sys.stderr)
            return None
        if job.state.value == "failed":
            raise error_from_dict(job.error or {"message": f"Generation {job.id} failed"})
        if job.state.value != "completed":
            print(f"generation {job.id} is {job.state.value}", file=sys.stderr)
            return None
        return VideoView(job)

    def handle_videos(self, args: VideosArgs) -> Table:
        eng = self._engine()
        rows = []
        for job in eng.video.list(limit=args.limit):
            p, r = job.params, job.result or {}
            rows.append((job.id, job.state.value, p.get("model"), (p.get("prompt") or "")[:40],
                         f"{p.get('width')}x{p.get('height')}", p.get("num_frames"), p.get("steps"), p.get("seed"),
                         human_duration(r.get("elapsed")) if r.get("elapsed") else "", r.get("video") or ""))
        return Table(("id", "state", "model", "prompt", "size", "frames", "steps", "seed", "took", "video"), rows,
                     empty='no generations yet; start one with %studio video "PROMPT" --model M')

    def handle_system(self, args: SystemArgs) -> Any:
        if self.notebook:
            from .widgets import SystemMonitor

            return SystemMonitor()
        return TextView(system_text(self._engine().system.snapshot()))


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(StudioMagics)


def unload_ipython_extension(ipython: Any) -> None:
    ipython.magics_manager.magics["line"].pop("studio", None)
    ipython.magics_manager.magics["cell"].pop("chat", None)
    ipython.magics_manager.registry.pop("StudioMagics", None)
