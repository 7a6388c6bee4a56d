"""``engine.chat.embed(texts, model=...)``: text to vectors with a local embedding model.

The input is a string, a list of strings, a list of token-id lists, or a pandas Series /
DataFrame ``column`` (as ``engine.chat.batch`` takes it); the answer is a float32 numpy array
of shape (n, dimensions), one row per input, in input order. Whether rows are normalized is the
model's own choice (see ``encoders``): GGUF embeddings are L2-normalized, sentence-transformers
folders are when they ship a ``Normalize`` module; ``Embeddings.normalized`` says which.

``dimensions`` shortens vectors for a model trained to allow it (Matryoshka): the catalog
declares the lengths (``embedding.matryoshka_dimensions``), or the model card's tags name
``matryoshka``; the vector is cut to its first ``dimensions`` values and normalized again when
the model normalizes. Any other model refuses a length other than its own with a ValidationError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import ValidationError
from ..refs import ModelRef
from .base import LoadOptions
from .encoders import EMBEDDING, EmbeddingModel, _l2, load_gguf_embedder, load_transformers_embedder

if TYPE_CHECKING:
    from . import ChatService

MAX_INPUTS = 2048  # inputs of one call, as OpenAI's /embeddings allows
BATCH = 32  # inputs a transformers forward pass takes at once


@dataclass
class Embeddings:
    """What ``ChatService.embeddings`` answers: the vectors and how they were made."""

    vectors: np.ndarray  # (n, dimensions) float32
    model: str  # the loaded model's id (org/name:QUANT for a GGUF)
    prompt_tokens: int
    normalized: bool
    pooling: str
    token_counts: list[int] = field(default_factory=list)


def inputs_of(texts: Any, column: str | None = None) -> list[str] | list[list[int]]:
    """The inputs as a list of strings or of token-id lists; ValidationError naming a bad one."""
    if column is not None:
        try:
            texts = texts[column]
        except (KeyError, TypeError):
            raise ValidationError(f"No column {column!r} to embed", details={"column": column}) from None
    if hasattr(texts, "tolist") and not isinstance(texts, (str, list)):
        if hasattr(texts, "columns"):
            raise ValidationError("Name the DataFrame's column to embed: engine.chat.embed(df, column='text', ...)")
        texts = texts.tolist()
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, (list, tuple)) or not texts:
        raise ValidationError("Embed a string, a non-empty list of strings or of token-id lists, or a DataFrame "
                              "column", details={"type": type(texts).__name__})
    if len(texts) > MAX_INPUTS:
        raise ValidationError(f"At most {MAX_INPUTS} inputs in one call; got {len(texts)}",
                              details={"count": len(texts), "max": MAX_INPUTS})
    if all(isinstance(t, str) for t in texts):
        for i, t in enumerate(texts):
            if not t:
                raise ValidationError(f"input[{i}] is empty; every input needs some text",
                                      details={"index": i, "param": "input"})
        return list(texts)
    if all(isinstance(t, (list, tuple)) and t and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0
                                                      for x in t) for t in texts):
        return [list(t) for t in texts]
    bad = next(i for i, t in enumerate(texts) if not isinstance(t, str))
    raise ValidationError(f"input[{bad}] must be a string (or every input a list of token ids)",
                          details={"index": bad, "type": type(texts[bad]).__name__, "param": "input"})


def _matryoshka(chat: ChatService, repo_id: str) -> tuple[int, ...] | None:
    """The shorter lengths a model allows: the catalog's list, () for "any" (a card tagged
    matryoshka), None when it allows none."""
    dims = ((chat.library.catalog().get(repo_id) or {}).get("embedding") or {}).get("matryoshka_dimensions")
    if dims:
        return tuple(int(d) for d in dims)
    local = chat.library.local.get(repo_id)
    readme = getattr(local, "snapshot", None)
    if readme is not None and (readme / "README.md").is_file():
        head = (readme / "README.md").read_text(errors="replace")[:20_000].lower()
        if "matryoshka" in head.split("\n---", 1)[0]:  # the card's front matter (tags, base model)
            return ()
    return None


def load_embedder(chat: ChatService, model: str | ModelRef, load_options: dict[str, Any] | None = None
                  ) -> EmbeddingModel:
    """Load (or reuse) ``model`` for embeddings, within the memory budget."""
    options = chat._options(load_options)
    ref = ModelRef.coerce(model)
    local = chat.library.local.get(ref.repo_id)
    if local is not None and (local.model_index is not None or ("gguf" not in local.formats and local.config is None)):
        what = "a diffusers pipeline" if local.model_index is not None else "no model weights"
        raise ValidationError(f"{ref.repo_id} holds {what}; it cannot embed text",
                              details={"model": str(ref), "param": "model", "formats": local.formats},
                              resolution_steps=["Use an embedding model: engine.library.search(task='feature-extraction')"])
    res = chat.resolve(ref, options.quantization, options.backend)
    name = "llama-cpp" if res.format == "gguf" else "transformers"
    backend = chat._backend(name)
    key = (res.model_id, name, EMBEDDING)
    current = chat.manager.get(key)
    if isinstance(current, EmbeddingModel):
        return current
    if res.format == "gguf":
        need = res.path.stat().st_size + (64 << 20)
        gpu_layers = options.gpu_layers if options.gpu_layers is not None else (-1 if backend.uses_gpu() else 0)

        def loader() -> EmbeddingModel:
            return load_gguf_embedder(res.model_id, res.path, options, gpu_layers)
    else:
        need = sum(p.stat().st_size for p in res.path.glob("*.safetensors")) + (64 << 20)
        device = "cuda" if backend.uses_gpu() and options.gpu_layers != 0 else "cpu"

        def loader() -> EmbeddingModel:
            return load_transformers_embedder(res.model_id, res.path, options, device)
    loaded = chat.manager.load(key, loader, need_bytes=need)
    assert isinstance(loaded, EmbeddingModel)
    loaded.matryoshka = _matryoshka(chat, res.repo_id)  # type: ignore[attr-defined]
    return loaded


def embed(chat: ChatService, texts: Any, *, model: str | ModelRef, column: str | None = None,
          dimensions: int | None = None, load_options: dict[str, Any] | LoadOptions | None = None) -> Embeddings:
    """Embed ``texts`` (see the module's docstring); ValidationError for an input longer than the
    model takes, a ``dimensions`` it does not allow, or a model that cannot embed."""
    inputs = inputs_of(texts, column)
    if isinstance(load_options, LoadOptions):
        load_options = {k: v for k, v in load_options.to_dict().items() if v is not None}
    loaded = load_embedder(chat, model, load_options)
    allowed = getattr(loaded, "matryoshka", None)
    if dimensions is not None:
        if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 1 <= dimensions <= loaded.dimensions:
            raise ValidationError(f"dimensions must be an integer between 1 and {loaded.dimensions}",
                                  details={"dimensions": dimensions, "param": "dimensions"})
        if dimensions != loaded.dimensions and (allowed is None or (allowed and dimensions not in allowed)):
            choices = f"one of {', '.join(map(str, allowed))}" if allowed else f"only {loaded.dimensions}"
            raise ValidationError(
                f"{loaded.model_id} cannot shorten its vectors to {dimensions} dimensions: it allows {choices}",
                details={"model": loaded.model_id, "dimensions": dimensions, "param": "dimensions",
                         "allowed": list(allowed or [loaded.dimensions])},
                resolution_steps=["Leave dimensions out for the model's full length",
                                  "Or use a Matryoshka model (e.g. nomic-ai/nomic-embed-text-v1.5-GGUF)"])
    key = (loaded.model_id, loaded.backend, EMBEDDING)
    with chat.manager.using(key):
        tokens = [loaded.tokenize(t) if isinstance(t, str) else t for t in inputs]
        for i, t in enumerate(tokens):
            if len(t) > loaded.max_tokens:
                raise ValidationError(
                    f"input[{i}] takes {len(t)} tokens, more than the {loaded.max_tokens} {loaded.model_id} embeds",
                    details={"index": i, "tokens": len(t), "max_tokens": loaded.max_tokens, "param": "input"},
                    resolution_steps=["Split the text into shorter chunks"])
        step = BATCH if loaded.backend == "transformers" else len(tokens)
        rows = np.concatenate([loaded.embed_tokens(tokens[i:i + step]) for i in range(0, len(tokens), step)])
    if dimensions is not None and dimensions != loaded.dimensions:
        rows = rows[:, :dimensions]
        if loaded.normalized:
            rows = _l2(rows)
    counts = [len(t) for t in tokens]
    return Embeddings(np.ascontiguousarray(rows, dtype=np.float32), loaded.model_id, sum(counts),
                      loaded.normalized, loaded.pooling, counts)


def remote_embeddings(remote: Any, texts: Any, *, model: str, column: str | None = None,
                      dimensions: int | None = None) -> Embeddings:
    """Vectors from a remote endpoint's model (``remote/<endpoint>/<id>``): texts only, its own length
    and pooling (the endpoint says nothing of them: ``normalized`` False, as its vectors are sent)."""
    inputs = inputs_of(texts, column)
    if dimensions is not None or not all(isinstance(t, str) for t in inputs):
        raise ValidationError("A remote model takes texts, without dimensions",
                              details={"model": model, "param": "dimensions" if dimensions else "input"})
    return Embeddings(vectors=remote.embed(list(inputs)), model=model, prompt_tokens=0, normalized=False,
                      pooling="the endpoint's")
