"""Raw prompts (OpenAI's ``/completions``), embeddings and batches as ``ChatService`` calls (mixins:
they use the service's backends, library, host client, remote models and batch runner). The work is
in ``completions.py``, ``embed.py`` and ``batch.py``; the first two are imported on first use."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

from ..refs import ModelRef
from .base import LoadedModel

if TYPE_CHECKING:
    from ..jobs import Job
    from ..library import Library
    from . import ChatService, ChatStream
    from .base import Backend
    from .batch import BatchRunner


class PromptAndEmbeddingCalls:
    library: Library
    remote: Any
    _backends: dict[str, Backend]

    if TYPE_CHECKING:
        def remote_model(self, model: Any) -> LoadedModel | None: ...

    # Raw prompts and embeddings ----------------------------------------------------------------

    def stream_prompt(self, model: str | ModelRef | LoadedModel, prompt: str, *, cancel: threading.Event | None = None,
                      load_options: dict[str, Any] | None = None, **sampling: Any) -> ChatStream:
        """Stream the continuation of a raw ``prompt`` (no chat template: OpenAI's ``/completions``);
        ``sampling`` as ``stream`` takes it, ``stop`` strings included."""
        if self.remote is not None:
            return self.remote.stream_prompt(model, prompt, cancel=cancel, load_options=load_options, **sampling)
        from .completions import stream_prompt

        return stream_prompt(cast("ChatService", self), model, prompt, cancel=cancel, load_options=load_options, **sampling)

    def embed(self, texts: Any, *, model: str | ModelRef, column: str | None = None, dimensions: int | None = None,
              load_options: dict[str, Any] | None = None) -> Any:
        """Vectors of ``texts`` as a float32 numpy array (n, dimensions), rows in input order.

        ``texts``: a string, a list of strings or of token-id lists, a pandas Series, or a DataFrame
        with ``column``. Normalized (L2) or not as the model declares: GGUF embeddings always, a
        sentence-transformers folder when it has a Normalize module (``embeddings()`` says which).
        ``dimensions`` shortens vectors of Matryoshka models. ValidationError for a model that cannot
        embed, an input longer than it takes, or a length it does not allow.
        """
        return self.embeddings(texts, model=model, column=column, dimensions=dimensions,
                               load_options=load_options).vectors

    def embeddings(self, texts: Any, *, model: str | ModelRef, column: str | None = None,
                   dimensions: int | None = None, load_options: dict[str, Any] | None = None) -> Any:
        """``embed`` with how the vectors were made: an ``embed.Embeddings`` (vectors, model,
        prompt_tokens, normalized, pooling, token_counts)."""
        remote = self.remote_model(model)  # remote/<endpoint>/<id>: the serving engine embeds
        if remote is not None:
            from .embed import remote_embeddings

            return remote_embeddings(remote, texts, model=str(model), column=column, dimensions=dimensions)
        if self.remote is not None:
            return self.remote.embeddings(texts, model=model, column=column, dimensions=dimensions,
                                          load_options=load_options)
        from .embed import embed

        return embed(cast("ChatService", self), texts, model=model, column=column, dimensions=dimensions, load_options=load_options)

    def embedding_models(self) -> list[dict[str, Any]]:
        """Local embedding models (task feature-extraction / sentence-similarity) a backend can load."""
        from ..library.records import EMBEDDING_TASKS

        usable = {f for b in self._backends.values() if b.available() for f in b.formats}
        return [{"id": info.id, "name": info.name, "formats": info.formats, "task": info.task,
                 "embedding": info.embedding, "size": info.size, "error": info.error}
                for info in self.library.list_local()
                if info.task in EMBEDDING_TASKS and set(info.formats) & usable]


class BatchCalls:
    batches: BatchRunner

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
