"""``model-studio``: the terminal front door. Parses arguments, calls the engine, renders text.

Every ``StudioError`` becomes one line on stderr plus its resolution steps (exit code 1), bad
arguments an argparse usage error (exit code 2), and Ctrl-C during ``pull`` pauses the download
(exit code 130); running the same ``pull`` again resumes it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from ._cli_common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, _emit_json
from ._cli_services import cmd_du, cmd_endpoints, cmd_energy
from ._format import (
    backends_text,
    human_count,
    human_duration,
    human_rate,
    human_size,
    settings_text,
    system_text,
    table,
    versions_text,
)
from .core.disk_usage import FREE_CHOICES
from .core.jobs import JobState
from .core.library import BACKENDS, SORTS, STATUSES, TASKS
from .errors import StudioError, ValidationError, error_from_dict


def _quants(model, local_only: bool = False) -> str:
    return ",".join(q.name for q in model.quantizations if q.local or not local_only)


# --- library ----------------------------------------------------------------------------------


def cmd_search(eng, args) -> int:
    models = eng.library.search(args.query, task=args.task, backend=args.backend, status=args.status,
                                sort=args.sort, limit=args.limit, hub=not args.offline)
    if args.json:
        return _emit_json([m.to_dict() for m in models])
    if not models:
        print("no models match")
        return EXIT_OK
    rows = [(m.id, m.task, ",".join(m.formats), human_size(m.size), m.status + (" (shared)" if m.shared else ""), m.license,
             _quants(m))
            for m in models]
    print(table(("id", "task", "formats", "size", "status", "license", "quants"), rows))
    if models.hub_error and not args.offline:
        print(f"(Hub unreachable, showing catalog and local models: {models.hub_error['message']})",
              file=sys.stderr)
    return EXIT_OK


def cmd_list(eng, args) -> int:
    models = eng.library.list_local()
    if args.json:
        return _emit_json([m.to_dict() for m in models])
    if not models:
        print("no local models; fetch one with `model-studio pull ORG/NAME`")
        return EXIT_OK
    rows = [(m.id, human_size(m.local_size), ",".join(m.formats), _quants(m, local_only=True),
             (m.store or "") + (" (read-only)" if m.read_only else "") + (" (unverified)" if m.verified is False
                                                                         else ""), m.local_path)
            for m in models]
    print(table(("id", "size", "formats", "quants", "store", "path"), rows, max_width=120))
    return EXIT_OK


def cmd_info(eng, args) -> int:
    info = eng.library.info(args.model)
    try:
        fit: Any = eng.library.fit(args.model)
    except StudioError as exc:
        fit = exc
    if args.json:
        fit_dict = fit.to_dict()["error"] if isinstance(fit, StudioError) else fit.to_dict()
        return _emit_json({**info.to_dict(), "fit": fit_dict})
    print(f"{info.id}  ({info.status})")
    for label, value in (("task", info.task), ("license", info.license), ("gated", "yes" if info.gated else None),
                         ("parameters", human_count(info.parameters)), ("context length", info.context_length),
                         ("architecture", info.architecture), ("formats", ",".join(info.formats)),
                         ("backends", ",".join(info.backends)), ("size", human_size(info.size)),
                         ("path", info.local_path)):
        if value not in (None, "", "-"):
            print(f"  {label:<15} {value}")
    if info.quantizations:
        print("\nquantizations:")
        rows = [(("* " if q.name == info.default_quantization else "  ") + q.name, human_size(q.size),
                 "local" if q.local else "") for q in info.quantizations]
        print(_indent(table(("quant", "size", "local"), rows)))
    if info.files:
        print("\nfiles:")
        rows = [(f["path"], human_size(f.get("size")), "local" if f.get("local") else "") for f in info.files]
        print(_indent(table(("file", "size", "local"), rows, max_width=80)))
    if isinstance(fit, StudioError):
        print(f"\nfit: unknown ({fit.message})")
    else:
        print(f"\nfit: {fit.verdict}: {fit.message}")
    return EXIT_OK


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def cmd_rm(eng, args) -> int:
    plan = eng.library.delete(args.model, dry_run=True)
    revs = len(plan["revisions"])
    print(f"{plan['model']}: {human_size(plan['freed_bytes'])} would be freed ({revs} revision(s))")
    if not args.yes:
        if not sys.stdin or not sys.stdin.isatty():
            raise ValidationError("Refusing to delete without confirmation: stdin is not a terminal",
                                  details={"model": plan["model"]},
                                  resolution_steps=["Pass --yes to delete without asking"])
        try:
            answer = input("Delete? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("not deleted")
            return EXIT_ERROR
    done = eng.library.delete(args.model)
    print(f"freed {human_size(done['freed_bytes'])}")
    return EXIT_OK


def cmd_verify(eng, args) -> int:
    from tqdm import tqdm

    bar: Any = None

    def hashed(done: int, total: int) -> None:  # store models (Ollama blobs) are hashed here, locally
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"sha256 {args.model}", leave=False)
        bar.update(done - bar.n)

    try:
        result = eng.library.verify(args.model, progress=hashed)
    finally:
        if bar is not None:
            bar.close()
    for m in result["mismatches"]:
        print(f"MISMATCH {m['path']}: expected {m['algorithm']} {m['expected']}, got {m['actual']}")
    for path in result.get("extra", []):
        print(f"EXTRA    {path}: not part of commit {result['commit'][:12]}")
    if "commit" not in result:  # a store model (an Ollama blob) or an import, hashed against its digest
        print(f"ok: {result['checked']} file(s) match their sha256 ({human_size(result.get('bytes'))})")
        return EXIT_OK
    if result["not_downloaded"]:
        print(f"({len(result['not_downloaded'])} files of the repo are not downloaded, not checked)")
    if result["ok"]:
        print(f"ok: {result['checked']} files match the Hub (commit {result['commit'][:12]})")
        return EXIT_OK
    print(f"{len(result['mismatches'])} mismatched, {len(result['extra'])} extra; "
          f"delete and pull {result['model']} again", file=sys.stderr)
    return EXIT_ERROR


# --- downloads and jobs -----------------------------------------------------------------------


def cmd_pull(eng, args) -> int:
    job = eng.downloads.start(args.model, files=args.files, include=args.include, revision=args.revision,
                              variant=args.quant)
    return _follow(eng, job)


def cmd_import(eng, args) -> int:
    """A .gguf or a model folder by path (in place unless --copy), or a .gguf by HTTPS URL (a job)."""
    if not args.source.lower().startswith(("http://", "https://")):
        info = eng.library.import_model(args.source, name=args.name, copy=args.copy)
        print(f"{info.id}: {human_size(info.local_size)} at {info.local_path}"
              + ("" if args.copy else " (in place, nothing copied)"))
        return EXIT_OK
    from ._progress import watch_download

    job = eng.library.import_url(args.source, sha256=args.sha256, name=args.name)
    try:
        job = watch_download(eng, job)
    except KeyboardInterrupt:
        return _interrupted(eng, job)
    if job.state == JobState.FAILED:
        raise error_from_dict(job.error or {"message": f"Import {job.id} failed"})
    if job.state != JobState.COMPLETED:
        print(f"import {job.id} is {job.state.value}; resume it with `model-studio resume {job.id}`",
              file=sys.stderr)
        return EXIT_ERROR
    r = job.result or {}
    print(f"{r['model']}: {human_size(r.get('bytes'))} at {r.get('path')}")
    print(("verified sha256 " if r.get("verified") else "unverified (no --sha256 given); sha256 ") + str(r.get("sha256")))
    return EXIT_OK


def _follow(eng, job) -> int:
    """Show a download's progress until it stops; Ctrl-C pauses it (exit code 130)."""
    from ._progress import watch_download

    try:
        job = watch_download(eng, job)
    except KeyboardInterrupt:
        return _interrupted(eng, job)
    if job.state == JobState.COMPLETED and job.kind == "import":
        r = job.result or {}
        print(f"{r.get('model')}: {r.get('path')} ({'verified' if r.get('verified') else 'unverified'})")
        return EXIT_OK
    if job.state == JobState.COMPLETED:
        r = job.result or {}
        print(r.get("path", ""))
        print(f"verified {r.get('verified', 0)} files ({human_size(r.get('bytes_total'))}: "
              f"{human_size(r.get('bytes_transferred'))} downloaded, {human_size(r.get('bytes_reused'))} reused)")
        return EXIT_OK
    if job.state == JobState.FAILED:
        raise error_from_dict(job.error or {"message": f"Download {job.id} failed"})
    print(f"download {job.id} is {job.state.value}; resume it with `model-studio resume {job.id}`",
          file=sys.stderr)
    return EXIT_ERROR


def _interrupted(eng, job) -> int:
    try:
        job = job.refresh()
        if job.active and job.owner_pid != eng.jobs.owner_pid:
            print(f"stopped watching; the download goes on in process {job.owner_pid}", file=sys.stderr)
            return EXIT_INTERRUPTED
        if job.active:
            eng.downloads.pause(job.id) if job.kind == "download" else eng.runner.pause(job.id)
            job = eng.jobs.wait(job.id, timeout=30)
    except (KeyboardInterrupt, TimeoutError):
        job = job.refresh()
    p = job.progress
    if job.state == JobState.PAUSED:
        print(f"paused at {human_size(p.done)} of {human_size(p.total)}; run the same pull again to resume",
              file=sys.stderr)
    else:
        print(f"download {job.id} is {job.state.value}", file=sys.stderr)
    return EXIT_INTERRUPTED


def cmd_jobs(eng, args) -> int:
    """Jobs of every kind (downloads, batches, training runs, video generations), newest first."""
    if args.state:
        jobs = eng.job_center.list(args.kind, args.state, args.query, limit=args.limit)
    else:
        jobs = [j for j in eng.job_center.list(args.kind, None, args.query, limit=args.limit)
                if args.all or j.state != JobState.COMPLETED]  # all but the finished
    if args.json:
        return _emit_json([j.to_dict() for j in jobs])
    if not jobs:
        print("no jobs" + ("" if args.all or args.state else " (--all shows finished ones)"))
        return EXIT_OK
    print(table(("id", "title", "state", "progress", "rate", "eta", "kind"), [_job_row(j) for j in jobs]))
    return EXIT_OK


def _job_row(j) -> tuple:
    p = j.progress
    pct = f"{p.fraction * 100:.0f}% " if p.fraction is not None else ""
    if p.total and p.unit == "bytes":
        done = f"{pct}{human_size(p.done)}/{human_size(p.total)}"
    elif p.total:
        done = f"{pct}{p.done:g}/{p.total:g} {p.unit}"
    else:
        done = "-"
    rate = human_rate(p.rate) if j.active and p.unit == "bytes" else ""
    eta = human_duration(p.eta) if j.active and p.eta else ""
    return (j.id, j.title, j.state.value, done, rate, eta, j.kind)


def cmd_cleanup(eng, args) -> int:
    result = eng.job_center.cleanup(args.older_than, kinds=args.kind or None, dry_run=args.dry_run,
                                    delete_files=args.delete_files)
    if args.json:
        return _emit_json(result)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {result['count']} finished job(s) older than {args.older_than:g} day(s)"
          + (f", {human_size(result['bytes_freed'])} of files" if result["bytes_freed"] else ""))
    for j in result["jobs"]:
        print(f"  {j['id']} {j['kind']} {j['state']} {j['title']}")
    return EXIT_OK


def cmd_resume(eng, args) -> int:
    job = eng.jobs.resume(args.job_id)
    # A resumed job belongs to this process, so follow it: leaving would pause it again.
    return _follow(eng, job) if job.kind in ("download", "import") else EXIT_OK


def cmd_cancel(eng, args) -> int:
    job = eng.jobs.get(args.job_id)
    if job.kind == "download":
        job = eng.downloads.cancel(job.id, discard=args.discard)
    else:
        job = eng.job_center.cancel(job.id)
    print(f"{job.id}: {job.state.value}" + (" (cancel requested)" if job.active else ""))
    return EXIT_OK


# --- machine ----------------------------------------------------------------------------------


def cmd_system(eng, args) -> int:
    if args.versions:
        versions = eng.system.versions()
        if args.json:
            return _emit_json(versions)
        print(versions_text(versions))
        return EXIT_OK
    snapshot = eng.system.snapshot()
    if args.json:
        return _emit_json(snapshot.to_dict())
    print(system_text(snapshot))
    return EXIT_OK


def cmd_settings(eng, args) -> int:
    if args.set:
        changes = {}
        for item in args.set:
            name, sep, raw = item.partition("=")
            if not sep or not name:
                raise ValidationError(f"--set takes NAME=VALUE, got {item!r}", details={"value": item})
            try:
                changes[name] = json.loads(raw)  # 4, 1.5, ["/data/models"]; anything else is a string
            except ValueError:
                changes[name] = raw
        result = eng.update_settings(changes, dry_run=args.dry_run)
    elif args.reload:
        result = eng.reload_settings()
    else:
        result = eng.settings_dict()
    if args.json:
        return _emit_json(result)
    print(settings_text(result))
    return EXIT_OK


def cmd_backends(eng, args) -> int:
    backends = eng.backends()
    if args.json:
        return _emit_json(backends)
    print(backends_text(backends))
    return EXIT_OK


def cmd_host(eng, args) -> int:
    """``model-studio host status|stop|logs``: the model host of this studio home."""
    from .core.host.status import status_text

    if args.action == "stop":
        result = eng.host.stop()
        if args.json:
            return _emit_json(result)
        print("model host stopped" if result["stopped"] else "no model host was running")
    elif args.action == "logs":
        result = eng.host.logs(args.lines)
        if args.json:
            return _emit_json(result)
        print(result["log"] or f"(no log yet at {result['path']})")
    else:
        status = eng.host.status()
        if args.json:
            return _emit_json(status)
        print(status_text(status))
    return EXIT_OK


# --- wiring -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="model-studio", description="Find, download and manage local models.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler, help: str, json_flag: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        if json_flag:
            p.add_argument("--json", action="store_true", help="machine-readable output")
        return p

    p = add("search", cmd_search, "search the catalog, the Hub and local models", json_flag=True)
    p.add_argument("query", nargs="?", default="")
    p.add_argument("--task", choices=TASKS)
    p.add_argument("--backend", choices=BACKENDS)
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--sort", choices=SORTS, default="downloads")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--offline", action="store_true", help="catalog and local models only")
    add("list", cmd_list, "list local models", json_flag=True)
    p = add("info", cmd_info, "files, quantizations, metadata and fit of one model", json_flag=True)
    p.add_argument("model")
    p = add("pull", cmd_pull, "download a model (Ctrl-C pauses; run again to resume)")
    p.add_argument("model", help="org/name[@revision][:QUANT]")
    p.add_argument("--quant", help="GGUF quantization, e.g. Q4_K_M")
    p.add_argument("--file", dest="files", action="extend", nargs="+", metavar="F", help="only these files")
    p.add_argument("--include", action="extend", nargs="+", metavar="PAT", help="glob patterns of files")
    p.add_argument("--revision", help="branch, tag or commit")
    p = add("rm", cmd_rm, "delete a model from the cache")
    p.add_argument("model")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p = add("import", cmd_import, "import a .gguf or a safetensors folder by path (in place), or a .gguf by "
            "HTTPS URL")
    p.add_argument("source", metavar="PATH_OR_URL")
    p.add_argument("--name", help="the model's name (local/NAME)")
    p.add_argument("--copy", action="store_true", help="copy into the studio's models folder")
    p.add_argument("--sha256", metavar="HEX", help="URL imports: verify the file against this sha256")
    p = add("verify", cmd_verify, "re-check a local model's files against the Hub")
    p.add_argument("model")
    p = add("jobs", cmd_jobs, "jobs of every kind: downloads, batches, training runs, video generations",
            json_flag=True)
    p.add_argument("--all", action="store_true", help="include completed jobs")
    p.add_argument("--kind", choices=("download", "batch", "train", "video"))
    p.add_argument("--state", choices=[s.value for s in JobState])
    p.add_argument("--query", "-q", help="text in the id, title or parameters")
    p.add_argument("--limit", type=int, default=200)
    p = add("cleanup", cmd_cleanup, "delete finished jobs older than N days (downloaded models stay)",
            json_flag=True)
    p.add_argument("--older-than", type=float, required=True, metavar="DAYS", help="0: every finished job")
    p.add_argument("--kind", action="append", choices=("download", "batch", "train", "video"))
    p.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    p.add_argument("--delete-files", action="store_true",
                   help="also delete batch answers, training run folders and video outputs")
    p = add("resume", cmd_resume, "resume a paused, cancelled, interrupted or failed job")
    p.add_argument("job_id")
    p = add("cancel", cmd_cancel, "cancel a job (a download keeps its partial files unless --discard)")
    p.add_argument("job_id")
    p.add_argument("--discard", action="store_true", help="also delete the partial files")
    p = add("system", cmd_system, "CPU, RAM, swap, disks and GPUs", json_flag=True)
    p.add_argument("--versions", action="store_true",
                   help="OS, Python, CUDA, cuDNN, the NVIDIA driver, llama.cpp and library versions")
    p = add("settings", cmd_settings, "settings with their values and sources", json_flag=True)
    p.add_argument("--reload", action="store_true", help="read settings.json again and report its problems")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="change a run-time setting (saved)")
    p.add_argument("--dry-run", action="store_true", help="with --set: only validate and show what would change")
    add("backends", cmd_backends, "installed backends, GPU use, statistics and suggested models", json_flag=True)
    p = add("host", cmd_host, "the model host: status, stop, logs", json_flag=True)
    p.add_argument("action", nargs="?", default="status", choices=("status", "stop", "logs"))
    p.add_argument("--lines", type=int, default=200, help="log lines (logs)")
    p = add("endpoints", cmd_endpoints, "remote serving engines: list (with health), add, update, test, rm",
            json_flag=True)
    p.add_argument("action", nargs="?", default="list", choices=("list", "add", "update", "test", "rm"))
    p.add_argument("name", nargs="?")
    p.add_argument("url", nargs="?", help="the OpenAI base URL, e.g. http://gpu:8000/v1")
    p.add_argument("--key-env", metavar="VAR", help="read the API key from this environment variable")
    p.add_argument("--ask-key", action="store_true", help="ask for the API key (not echoed)")
    p.add_argument("--header", action="append", metavar="NAME:VALUE", help="an extra request header")
    p.add_argument("--timeout", type=float, metavar="S", help="seconds without an answer")
    p.add_argument("--concurrency", type=int, metavar="N", help="requests a batch sends at once")
    p.add_argument("--no-check", action="store_true", help="list without asking each endpoint")
    p = add("du", cmd_du, "disk use per model store, duplicates across stores, what could be freed", json_flag=True)
    p.add_argument("--no-duplicates", action="store_true", help="do not hash files to find copies")
    p.add_argument("--min-size", type=int, default=1 << 20, metavar="BYTES", help="smallest file checked for copies")
    p.add_argument("--older-than", type=float, default=30.0, metavar="DAYS", help="video outputs counted as old")
    p.add_argument("--free", choices=FREE_CHOICES,
                   help="delete what the studio owns of this kind (never another tool's files)")
    p.add_argument("--path", help="with --free duplicate: the copy to delete")
    p = add("energy", cmd_energy, "energy (Wh) and carbon (gCO2e) of jobs and chat answers", json_flag=True)
    p.add_argument("--since", metavar="YYYY-MM-DD")
    p.add_argument("--until", metavar="YYYY-MM-DD")
    p.add_argument("--kind", choices=("train", "video", "batch", "chat"), help="with --csv: one kind")
    p.add_argument("--csv", action="store_true", help="every row as CSV on stdout")
    return parser


class _OneLineFormatter(logging.Formatter):
    """Engine log records without tracebacks (``--debug`` shows them)."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return super().format(record)


def _print_error(exc: StudioError) -> None:
    print(f"error: {exc.one_line()}", file=sys.stderr)
    for step in exc.resolution_steps[1:]:  # one_line() already names the first
        print(f"  - {step}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``model-studio``; returns the exit code."""
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s") if args.debug
                         else _OneLineFormatter("%(levelname)s: %(message)s"))
    pkg_log = logging.getLogger("model_studio")
    pkg_log.addHandler(handler)
    eng = None
    try:
        from .core import Engine
        from .core.host import set_front_door

        set_front_door("cli")  # model_host "auto": the CLI's models live in the model host
        eng = Engine()
        return args.handler(eng, args)
    except StudioError as exc:
        _print_error(exc)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if eng is not None:
            eng.close()
        pkg_log.removeHandler(handler)
