"""``%studio models``, ``info``, ``pull`` and ``rm``: the model library and its downloads."""

from __future__ import annotations

import sys
from typing import Any

from .._format import human_count, human_size
from .._views import InfoView, Table
from ..errors import StudioError
from ._base import Handlers
from ._commands import ImportArgs, InfoArgs, ModelsArgs, PullArgs, RmArgs


class LibraryHandlers(Handlers):
    def handle_models(self, args: ModelsArgs) -> Table:
        eng = self._engine()
        if args.local:
            models = eng.library.list_local()
            if args.search:
                needle = args.search.lower()
                models = [m for m in models if needle in m.id.lower()]
            if args.task:
                models = [m for m in models if m.task == args.task]
            rows: list[tuple[Any, ...]] = [
                (m.id, m.task, ",".join(m.formats), human_size(m.local_size),
                 ",".join(q.name for q in m.quantizations if q.local), _store_label(m), m.local_path) for m in models]
            if args.task in (None, "text-generation"):  # fine-tuned runs chat as run/<id>: base + LoRA adapter
                rows += [(r["id"], "text-generation", f"lora on {r['base_model']}", human_size(r["adapter_bytes"]),
                          "", "run", r["adapter"]) for r in eng.chat.runs()
                         if not args.search or args.search.lower() in f"{r['id']} {r['base_model']}".lower()]
            rows = rows[: args.limit]
            return Table(("id", "task", "formats", "size", "quants", "store", "path"), rows,
                         empty="no local models; fetch one with %studio pull ORG/NAME")
        models = eng.library.search(args.search, task=args.task, limit=args.limit)
        rows = [(m.id, m.task, ",".join(m.formats), human_size(m.size), m.status + (" (shared)" if m.shared else ""), m.license,
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
            from ..widgets import Downloads

            self.show(Downloads(job_ids=[job.id]))
            return job
        return self._follow(eng, job)

    def handle_import(self, args: ImportArgs) -> Any:
        eng = self._engine()
        if args.source.lower().startswith(("http://", "https://")):
            job = eng.library.import_url(args.source, sha256=args.sha256, name=args.name)
            job = self._follow(eng, job)
            r = job.result or {}
            if r.get("model"):
                print(f"{r['model']}: " + ("verified sha256 " if r.get("verified") else
                                           "unverified (no --sha256 given); sha256 ") + str(r.get("sha256")))
            return job
        info = eng.library.import_model(args.source, name=args.name, copy=args.copy_file)
        print(f"{info.id}: {human_size(info.local_size)} at {info.local_path}"
              + ("" if args.copy_file else " (in place, nothing copied)"))
        return None

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


def _store_label(m: Any) -> str:
    """Where a local model lives, with ``read-only`` for other tools' stores and ``unverified`` imports."""
    label = m.store or ""
    if m.read_only:
        label += " (read-only)"
    if m.verified is False:
        label += " (unverified)"
    return label
