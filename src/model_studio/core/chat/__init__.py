"""Chat with local models: ``engine.chat``.

``ChatService`` resolves model names to files on disk, picks a backend (``llama-cpp`` for GGUF,
``transformers`` for safetensors; GGUF through transformers only when asked), loads models through
the ``ModelManager`` (memory budget, LRU, idle TTL) and streams answers. Batches of prompts run as
resumable jobs (``batch.py``).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ...config import Settings
from ...errors import NotFoundError, ValidationError, backend_unavailable
from ..arbiter import Arbiter, chat_holder_id
from ..fit import FitResult, gguf_metadata
from ..jobs import Job, JobRunner, JobStore
from ..library import Library
from ..local import LocalModel
from ..placement import Placement, on_device, place
from ..quants import default_quant
from ..refs import ModelRef
from .base import (
    MAX_CONTEXT,
    MAX_GPU_LAYERS,
    Backend,
    ChatChunk,
    ChatStats,
    LoadedModel,
    LoadOptions,
    Message,
    SamplingParams,
    usable_cores,
    validate_messages,
)
from .batch import BatchRunner
from .llama_cpp import LlamaCppBackend
from .manager import Key, ModelManager
from .transformers import DTYPES, TransformersBackend

_SAMPLING = {f.name for f in fields(SamplingParams)}
log = logging.getLogger(__name__)


@dataclass
class Resolved:
    """A model name resolved to what a backend loads."""

    model_id: str  # canonical: org/name, plus :QUANT for GGUF
    repo_id: str
    path: Path  # GGUF file (first part) or model folder
    format: str
    quantization: str | None
    local: LocalModel


class ChatStream:
    """An answer being generated: iterate for ``ChatChunk``s; ``stats`` is set once it ends."""

    def __init__(self, chunks: Iterator[ChatChunk], model: LoadedModel) -> None:
        self._chunks = chunks
        self.model = model
        self.stats: ChatStats | None = None
        self.finish_reason: str | None = None

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> ChatChunk:
        chunk = next(self._chunks)
        if chunk.finish_reason is not None:
            self.finish_reason, self.stats = chunk.finish_reason, chunk.stats
        return chunk

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


class ChatService:
    """Backends, loaded models and generation for one engine."""

    def __init__(self, settings: Settings, library: Library, jobs: JobStore, runner: JobRunner) -> None:
        self.settings = settings
        self.library = library
        self.jobs = jobs
        self.manager = ModelManager(settings)
        self._backends: dict[str, Backend] = {}
        self._lock = threading.Lock()
        for backend in (LlamaCppBackend(), TransformersBackend()):
            self.register_backend(backend)
        self.batches = BatchRunner(self, settings, jobs, runner)
        #: In host mode (``engine.host``), the ``HostChat`` that loads and generates in the model host.
        self.remote: Any = None
        #: The engine's ``EnergyAccounts``: each answer adds to its model's energy of the day.
        self.energy: Any = None

    # Backends ----------------------------------------------------------------------------------

    def register_backend(self, backend: Backend) -> None:
        """Add (or replace) a backend under ``backend.name``."""
        if not getattr(backend, "name", None) or not getattr(backend, "formats", None):
            raise ValidationError("A backend needs a name and formats", details={"backend": repr(backend)})
        with self._lock:
            self._backends[backend.name] = backend

    def unregister_backend(self, name: str) -> None:
        """Remove a backend and unload the models it holds."""
        with self._lock:
            self._backends.pop(name, None)
        self.manager.unload(lambda key: key[1] == name)

    def backends(self) -> list[dict[str, Any]]:
        return [{"name": b.name, "formats": list(b.formats), "available": b.available()}
                for b in self._backends.values()]

    def _backend(self, name: str) -> Backend:
        backend = self._backends.get(name)
        if backend is None:
            raise ValidationError(f"Unknown backend {name!r}; choose one of {', '.join(self._backends)}",
                                  details={"backend": name, "choices": list(self._backends)})
        if not backend.available():
            raise backend_unavailable(getattr(backend, "package", name), getattr(backend, "extra", name),
                                      f"The {name} backend")
        return backend

    # Models ------------------------------------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        """Local text-generation models an installed backend can load, and whether they are loaded;
        a model with a broken file carries the reason in ``error`` (None otherwise)."""
        usable = {name: b for name, b in self._backends.items() if b.available()}
        loaded = ({m["model"].split(":")[0] for m in self.remote.loaded()} if self.remote is not None
                  else {k[0].split(":")[0] for k in self.manager.keys()})
        out = []
        for info in self.library.list_local():
            if info.task not in (None, "text-generation") or not info.formats:
                continue
            if info.task is None and "gguf" not in info.formats:
                continue
            names = [n for n, b in usable.items() if set(b.formats) & set(info.formats)]
            if not names:
                continue
            default = _default_backend(info.formats)
            out.append({"id": info.id, "name": info.name, "formats": info.formats,
                        "backends": sorted(names, key=lambda n: n != default),
                        "default_backend": default if default in names else names[0],
                        "quantizations": [q.name for q in info.quantizations], "size": info.size,
                        "context_length": info.context_length, "loaded": info.id in loaded,
                        "error": info.error})  # a broken model is listed, with why it cannot load
        return out

    def resolve(self, model: str | ModelRef, quantization: str | None = None,
                backend: str | None = None) -> Resolved:
        """The files behind ``model`` (``local/name`` or ``org/name[:QUANT]``); NotFoundError if not local."""
        ref = ModelRef.coerce(model).with_(variant=quantization)
        local = self.library.local.get(ref.repo_id)
        if local is None or not local.files:
            steps = (["Add the folder that holds it to extra_model_dirs: engine.update_settings("
                      "{'extra_model_dirs': [FOLDER]})"] if ref.is_local else
                     [f"Download it first: engine.downloads.start({str(ref)!r}).wait()"])
            raise NotFoundError(f"{ref.repo_id} is not on this machine", details={"model": str(ref)},
                                resolution_steps=steps)
        formats = local.formats
        if "gguf" in formats and self._wants_gguf(formats, backend):
            quants = local.quantizations
            quant = ref.variant.upper() if ref.variant else default_quant(
                {q: _local_bytes(local, names) for q, names in quants.items()})
            files = quants.get(quant or "") if quant else [f for f in local.files if f.endswith(".gguf")]
            if not files:
                raise NotFoundError(f"{ref.repo_id} has no local quantization {quant}",
                                    details={"model": str(ref), "local_quantizations": sorted(quants)},
                                    resolution_steps=[f"Use one of {', '.join(sorted(quants))}",
                                                      f"Or download it: engine.downloads.start('{ref.repo_id}:{quant}')"])
            local.check(files)  # a broken file is a BrokenFileError now, not a crash in the backend
            path = local.file_path(sorted(files)[0])
            model_id = f"{ref.repo_id}:{quant}" if quant else ref.repo_id
            return Resolved(model_id, ref.repo_id, path, "gguf", quant, local)
        fmt = next((f for f in ("safetensors", "pytorch") if f in formats), None)
        if fmt is None or local.snapshot is None:
            raise ValidationError(f"{ref.repo_id} has no weights a chat backend can load ({', '.join(formats) or 'none'})",
                                  details={"model": str(ref), "formats": formats})
        local.check()
        return Resolved(ref.repo_id, ref.repo_id, local.snapshot, fmt, None, local)

    def _wants_gguf(self, formats: list[str], backend: str | None) -> bool:
        """GGUF unless a backend that reads model folders is named and the model has one."""
        chosen = self._backends.get(backend) if backend else None
        if chosen is None:
            return True
        if "gguf" not in chosen.formats:
            return False
        folders = {"safetensors", "pytorch"} & set(formats) & set(chosen.formats)
        return not (folders and backend != "llama-cpp")

    # Loading -----------------------------------------------------------------------------------

    def _options(self, load_options: dict[str, Any] | LoadOptions | None) -> LoadOptions:
        if isinstance(load_options, LoadOptions):
            options = load_options
        else:
            raw = dict(load_options or {})
            known = {f.name for f in fields(LoadOptions)}
            unknown = sorted(set(raw) - known)
            if unknown:
                raise ValidationError(f"Unknown load option(s): {', '.join(unknown)}",
                                      details={"unknown": unknown, "accepted": sorted(known)})
            options = LoadOptions(**{k: v for k, v in raw.items() if v is not None})
        cores = usable_cores()
        checks = [
            (_int_in(options.context_length, 16, MAX_CONTEXT),
             f"context_length must be between 16 and {MAX_CONTEXT} tokens"),
            (_int_in(options.threads, 1, cores),
             f"threads must be between 1 and {cores} (the CPU cores this process may use)"),
            (_int_in(options.gpu_layers, -1, MAX_GPU_LAYERS),
             f"gpu_layers must be -1 (all), 0 (CPU only) or a number of layers up to {MAX_GPU_LAYERS}"),
            (options.dtype is None or options.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}"),
            (options.chat_template is None or (isinstance(options.chat_template, str)
                                               and 0 < len(options.chat_template) <= 200_000),
             "chat_template must be a non-empty Jinja template"),
            (options.adapter is None or Path(str(options.adapter)).expanduser().exists(),
             "adapter must be the path of a saved LoRA adapter"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValidationError(message, details={**options.to_dict(), "cpu_cores": cores})
        return options

    def load(self, model: str | ModelRef, **load_options: Any) -> LoadedModel:
        """Load ``model`` (or reuse it when loaded) within the memory budget; see ``LoadOptions``.

        Raises NotFoundError (not local), BackendUnavailableError, ResourceError (does not fit:
        checked before anything is allocated) or ValidationError (e.g. no chat template).
        In host mode the model loads in the model host (HostCrashedError if it dies).
        """
        if self.remote is not None:
            return self.remote.load(model, **load_options)
        return self._load(model, self._options(load_options))

    def _load(self, model: str | ModelRef, options: LoadOptions) -> LoadedModel:
        if str(model).startswith("run/"):
            return self._load_run(str(model), options)
        model = ModelRef.coerce(model)  # parsed once: resolve() below takes the ModelRef
        if options.backend is None:  # a model loaded with a chosen backend keeps answering through it
            ref = model.with_(variant=options.quantization)
            for held in self.manager.keys():
                repo, _, quant = held[0].partition(":")
                if repo == ref.repo_id and held[2] == options.adapter and (
                        ref.variant is None or quant.upper() == ref.variant.upper()):
                    options = replace(options, backend=held[1])
                    break
        res = self.resolve(model, options.quantization, options.backend)
        name = options.backend or _default_backend([res.format])
        backend = self._backend(name)
        if res.format not in backend.formats:
            raise ValidationError(f"The {name} backend cannot load {res.format} models",
                                  details={"model": res.model_id, "backend": name, "formats": list(backend.formats)})
        if options.chat_template is not None:  # refused before a loaded model is replaced
            backend.check_chat_template(options.chat_template)
        if options.context_length is not None:
            trained = self.library.shape(res.repo_id, res.quantization).context_length
            if trained and options.context_length > trained:
                raise ValidationError(
                    f"context_length must be between 16 and {trained} tokens, the context {res.repo_id} was "
                    "trained on", details={"model": res.model_id, "context_length": options.context_length,
                                           "trained_context_length": trained})
        key: Key = (res.model_id, name, options.adapter)
        current = self.manager.get(key)
        if current is not None and not _differs(current.options, options):
            return current
        # The fit against what the arbiter can give per device (other holders counted, idle models
        # evictable), and the placement it implies (the user's gpu_layers still wins).
        shape = self.library.shape(res.repo_id, res.quantization)
        fit = self.arbiter.fit(res.repo_id, shape, context=options.context_length, exclude=chat_holder_id(key))
        need = fit.total_bytes
        if name == "transformers" and res.format == "gguf":  # dequantized to full precision
            params = int(gguf_metadata(res.path).get("parameters") or 0)
            width = 4 if (options.dtype or "float32") == "float32" else 2
            need = params * width + fit.kv_cache_bytes + fit.overhead_bytes
        placement = self.placement(backend, fit, need, options, key)
        return self.manager.load(key, self._loader(backend, res.model_id, str(res.path), options, placement),
                                 need_bytes=need, fit=fit, replace=lambda m: _differs(m.options, options),
                                 devices=placement.devices)

    @property
    def arbiter(self) -> Arbiter:
        """The GPU and RAM arbiter (``engine.arbiter``): holders per device, reservations, admission."""
        return self.manager.arbiter

    def placement(self, backend: Backend, fit: FitResult | None, need: int, options: LoadOptions,
                  key: Key) -> Placement:
        """Where a load goes: the fit verdict (GPU, partial N layers, CPU), unless the user chose."""
        gpus = self.arbiter.gpus()
        if not gpus and options.gpu_layers != 0 and backend.uses_gpu():
            # A GPU that NVML cannot measure (nvidia-ml-py missing): every layer there, as before the arbiter
            placement = on_device("cuda:0", need, explicit=options.gpu_layers is not None)
            placement.gpu_layers = -1 if options.gpu_layers is None else options.gpu_layers
            return placement
        gpu_ok = bool(gpus) and backend.uses_gpu()
        return place(fit, need, gpu_ok=gpu_ok, requested_layers=options.gpu_layers,
                     rooms=self.arbiter.rooms(exclude=chat_holder_id(key)) if gpu_ok else {})

    @staticmethod
    def _loader(backend: Backend, model_id: str, path: str, options: LoadOptions,
                placement: Placement) -> Callable[[], LoadedModel]:
        def load() -> LoadedModel:
            if backend.accepts_placement:
                model = backend.load(model_id, path, options, placement=placement)  # type: ignore[call-arg]
            else:
                model = backend.load(model_id, path, options)
            model.placement = placement.scaled(int(model.memory_bytes or 0)).to_dict()
            return model

        return load

    def run_model(self, model: str) -> tuple[str, str]:
        """(base model folder, adapter folder) of ``run/<job_id>``, a finished training run."""
        job_id = model.split("/", 1)[1]
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", job_id):  # a job id, never a path (run/../../x)
            raise ValidationError(f"Invalid training run {model!r}: expected run/<job id>", details={"model": model})
        result_file = self.settings.home_path / "runs" / job_id / "result.json"
        try:
            result = json.loads(result_file.read_text())
            base_dir, adapter = str(result["base_dir"]), str(result["adapter"])
        except (OSError, ValueError, KeyError, TypeError):
            raise NotFoundError(f"{model} is not a finished training run", details={"model": model},
                                resolution_steps=["List runs with engine.training.runs()",
                                                  "Wait for the run to complete"]) from None
        if not Path(adapter).exists() or not Path(base_dir).exists():
            raise NotFoundError(f"The files of {model} are gone", details={"model": model, "adapter": adapter,
                                                                           "base": base_dir})
        return base_dir, adapter

    def _load_run(self, model: str, options: LoadOptions) -> LoadedModel:
        """A training run: its (dequantized) base model folder plus its LoRA adapter, through transformers."""
        base_dir, adapter = self.run_model(model)
        if options.backend not in (None, "transformers"):
            raise ValidationError("A training run loads through the transformers backend",
                                  details={"model": model, "backend": options.backend})
        options = replace(options, backend="transformers", adapter=adapter)
        backend = self._backend("transformers")
        if options.chat_template is not None:
            backend.check_chat_template(options.chat_template)
        key: Key = (model, "transformers", adapter)
        current = self.manager.get(key)
        if current is not None and not _differs(current.options, options):
            return current
        size = sum(p.stat().st_size for p in Path(base_dir).glob("*.safetensors"))
        width = 4 if (options.dtype or "float32") == "float32" else 2
        need = int(size * width / 4) + 64 * 1024 * 1024
        gpus = self.arbiter.gpus() if options.gpu_layers != 0 and backend.uses_gpu() else []
        placement = on_device(gpus[0]["device"] if gpus else "cpu", need, explicit=options.gpu_layers is not None)
        return self.manager.load(key, self._loader(backend, model, base_dir, options, placement),
                                 need_bytes=need, replace=lambda m: _differs(m.options, options),
                                 devices=placement.devices)

    def loaded(self) -> list[dict[str, Any]]:
        """Loaded models: ``describe()`` plus ``last_used``, ``idle_seconds`` and ``in_use``."""
        if self.remote is not None:
            return self.remote.loaded()
        return self.manager.loaded()

    def unload(self, model: str | ModelRef, backend: str | None = None) -> dict[str, Any]:
        """Unload ``model`` (every quantization and backend unless named); frees its memory."""
        ref = ModelRef.coerce(model)
        if self.remote is not None:
            return self.remote.unload(str(ref), backend)

        def match(key: Key) -> bool:
            repo, _, quant = key[0].partition(":")
            return (repo == ref.repo_id and (ref.variant is None or quant.upper() == ref.variant.upper())
                    and (backend is None or key[1] == backend))

        return self.manager.unload(match)

    # Generation --------------------------------------------------------------------------------

    def stream(self, model: str | ModelRef | LoadedModel, messages: list[Message], *,
               stop: threading.Event | str | list[str] | None = None, cancel: threading.Event | None = None,
               load_options: dict[str, Any] | None = None, **sampling: Any) -> ChatStream:
        """Stream an answer; loads the model on demand.

        ``stop`` is a ``threading.Event`` that ends the answer when set (``finish_reason
        "cancelled"``) or, as in OpenAI's API, stop strings; ``cancel`` is the Event when ``stop``
        holds strings. ``sampling``: temperature, top_p, top_k, max_tokens, seed, repeat_penalty.
        The last chunk carries ``finish_reason`` and ``stats`` (also on the returned ``ChatStream``).
        """
        if self.remote is not None:
            return self.remote.stream(model, messages, stop=stop, cancel=cancel, load_options=load_options,
                                      **sampling)
        msgs = validate_messages(messages)
        if isinstance(stop, threading.Event):
            cancel, stop = stop, None
        if isinstance(stop, str):
            stop = [stop]
        params = self._sampling(sampling, stop)
        loaded = model if isinstance(model, LoadedModel) else self._load(model, self._options(load_options))
        key: Key = (loaded.model_id, loaded.backend, loaded.options.adapter)
        return ChatStream(self._generate(key, loaded, msgs, params, cancel), loaded)

    def _generate(self, key: Key, loaded: LoadedModel, msgs: list[Message], params: SamplingParams,
                  cancel: threading.Event | None) -> Iterator[ChatChunk]:
        with self.manager.using(key):
            prompt = loaded.count_tokens(msgs)
            if prompt + 1 > loaded.context_length:
                raise ValidationError(
                    f"The conversation takes {prompt} tokens, more than the context of {loaded.context_length}",
                    details={"prompt_tokens": prompt, "context_length": loaded.context_length},
                    resolution_steps=["Shorten or drop earlier messages",
                                      "Or load the model with a larger context_length"])
            if prompt + params.max_tokens > loaded.context_length:
                params = replace(params, max_tokens=loaded.context_length - prompt)
            meter, started = (self.energy.meter() if self.energy is not None else None), time.time()
            try:
                for chunk in loaded.stream(msgs, params, cancel):
                    if chunk.stats is not None:  # the count above, not a second tokenization in the backend
                        chunk.stats.prompt_tokens = prompt
                    yield chunk
            finally:
                if meter is not None:
                    try:
                        self.energy.add_chat(loaded.model_id, meter.stop(), started=started)
                    except Exception:  # accounting never fails an answer
                        log.debug("energy of an answer not recorded", exc_info=True)

    def _sampling(self, sampling: dict[str, Any], stop: list[str] | None) -> SamplingParams:
        unknown = sorted(set(sampling) - _SAMPLING)
        if unknown:
            raise ValidationError(f"Unknown sampling parameter(s): {', '.join(unknown)}",
                                  details={"unknown": unknown, "accepted": sorted(_SAMPLING)})
        values = {k: v for k, v in sampling.items() if v is not None}
        if stop:
            values["stop"] = list(stop)
        return SamplingParams.checked(**values)

    def complete(self, model: str | ModelRef | LoadedModel, messages: list[Message], *,
                 stop: threading.Event | str | list[str] | None = None, cancel: threading.Event | None = None,
                 load_options: dict[str, Any] | None = None, **sampling: Any) -> dict[str, Any]:
        """The whole answer: ``{"text", "stats", "model", "finish_reason"}``."""
        stream = self.stream(model, messages, stop=stop, cancel=cancel, load_options=load_options, **sampling)
        text = "".join(chunk.text for chunk in stream)
        return {"text": text, "model": stream.model.model_id, "finish_reason": stream.finish_reason,
                "stats": stream.stats.to_dict() if stream.stats else None}

    # Batches -----------------------------------------------------------------------------------

    def batch(self, prompts: Any, *, model: str, template: str = "{prompt}", system: str | None = None,
              column: str | None = None, resume: str | None = None, progress: bool = True,
              load_options: dict[str, Any] | None = None, **sampling: Any) -> Any:
        """Answer every prompt (list of str, or a pandas Series / DataFrame ``column``) as a job.

        Each answer is saved as it comes (``<home>/batches/<job_id>.jsonl``): an interrupted batch
        resumes where it stopped (``resume=job_id``, or the same prompts, model, template and
        sampling). Returns a list of answers, or a Series aligned to the input's index.
        """
        return self.batches.run(prompts, model=model, template=template, system=system, column=column,
                                resume=resume, progress=progress, load_options=load_options, sampling=sampling)

    def batch_start(self, prompts: Any, *, model: str | ModelRef, template: str = "{prompt}", system: str | None = None,
                    column: str | None = None, load_options: dict[str, Any] | None = None,
                    **sampling: Any) -> Any:
        """Start (or resume) a batch job and return the ``Job`` at once."""
        return self.batches.start(prompts, model=model, template=template, system=system, column=column,
                                  load_options=load_options, sampling=sampling)

    def batch_results(self, job_id: str) -> dict[str, Any]:
        """``{"job", "results": [{"index", "text", "stats"}]}`` of a batch, done or not."""
        return self.batches.results(job_id)

    def batch_list(self, state: str | None = None, limit: int = 200) -> list[Job]:
        """Batch jobs (``Job``), newest first, optionally only those in ``state``."""
        return self.batches.list(state, limit=limit)

    def batch_cancel(self, job_id: str) -> Job:
        """Stop a batch, keeping its answers so far (it may run in another process); returns the ``Job``."""
        return self.batches.cancel(job_id)

    def batch_resume(self, job_id: str) -> Job:
        """Continue a stopped, failed or interrupted batch with its unanswered prompts; returns the ``Job``."""
        return self.batches.resume(job_id)

    def close(self) -> None:
        self.batches.close()
        self.manager.close()


def _int_in(value: Any, low: int, high: int) -> bool:
    """None (the default), or an int (not a bool) within [low, high]."""
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high)


def _local_bytes(local: LocalModel, names: list[str]) -> int | None:
    """Bytes on disk of some files of a local model (None if one cannot be read)."""
    try:
        return sum(local.file_path(n).stat().st_size for n in names)
    except OSError:
        return None


def _default_backend(formats: list[str]) -> str:
    return "llama-cpp" if "gguf" in formats else "transformers"


def _differs(current: LoadOptions, wanted: LoadOptions) -> bool:
    """True when ``wanted`` names a load option the loaded model was loaded without."""
    for name in ("context_length", "threads", "gpu_layers", "dtype", "chat_template"):
        value = getattr(wanted, name)
        if value is not None and value != getattr(current, name):
            return True
    return False


__all__ = ["ChatService", "ChatStream", "Backend", "LoadedModel", "LoadOptions", "SamplingParams", "ChatChunk",
           "ChatStats", "ModelManager", "Resolved"]
