"""OpenAI's ``/embeddings``: the request read by a pydantic model, the answer in OpenAI's shape.

Shared by the Jupyter server's ``/model-studio/v1/embeddings`` and the model host. ``input`` is a
string, an array of strings, an array of token ids (one input) or an array of such arrays, at
most ``embed.MAX_INPUTS``; ``encoding_format`` ``float`` (default) or ``base64`` (the float32
little-endian bytes of each vector, as OpenAI sends them: ``numpy.frombuffer(base64.b64decode(s),
"<f4")`` gives the vector back); ``dimensions`` where the model allows a shorter vector
(Matryoshka models; 400 otherwise). ``user`` is accepted and ignored. The studio's extension
``model_studio: {"load_options": {...}, "stats": true}``: LoadOptions for the model, and with
``stats`` the answer carries ``model_studio: {model, normalized, pooling, dimensions}``.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from pydantic import ValidationError as PydanticError

from .embed import MAX_INPUTS
from .openai_request import OpenAIError

Tokens = Annotated[list[Annotated[StrictInt, Field(ge=0)]], Field(min_length=1)]


class EmbeddingExtension(BaseModel):
    model_config = ConfigDict(extra="forbid")
    load_options: dict[str, Any] = Field(default_factory=dict)
    stats: bool = False


class EmbeddingRequest(BaseModel):
    """The body of ``POST /embeddings``."""

    model_config = ConfigDict(extra="allow")  # OpenAI adds fields; unknown ones are ignored, as there
    model: Annotated[StrictStr, Field(min_length=1, max_length=500)]
    input: (Annotated[StrictStr, Field(min_length=1)]
            | Annotated[list[Annotated[StrictStr, Field(min_length=1)]], Field(min_length=1, max_length=MAX_INPUTS)]
            | Tokens
            | Annotated[list[Tokens], Field(min_length=1, max_length=MAX_INPUTS)])
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Annotated[StrictInt, Field(ge=1)] | None = None
    user: StrictStr | None = None
    model_studio: EmbeddingExtension = Field(default_factory=EmbeddingExtension)

    def inputs(self) -> list[str] | list[list[int]]:
        if isinstance(self.input, str):
            return [self.input]
        if self.input and isinstance(self.input[0], int):
            return [list(self.input)]  # type: ignore[arg-type,return-value]  # one token array
        return list(self.input)  # type: ignore[return-value]  # strings or token arrays, as validated


def parse_embedding_request(body: Any) -> EmbeddingRequest:
    """The body -> ``EmbeddingRequest``; ``OpenAIError`` (400) naming the first bad field."""
    if not isinstance(body, dict):
        raise OpenAIError(400, "The request body must be a JSON object")
    try:
        return EmbeddingRequest.model_validate(body)
    except PydanticError as exc:
        first = exc.errors()[0]
        param = str(first["loc"][0]) if first["loc"] else None
        if param == "input":
            message = ("'input' must be a non-empty string, an array of up to "
                       f"{MAX_INPUTS} non-empty strings, an array of token ids or an array of such arrays")
        else:
            message = f"'{param}': {first['msg']}" if param else first["msg"]
        raise OpenAIError(400, message, param=param) from None


def embedding_response(request: EmbeddingRequest, result: Any) -> dict[str, Any]:
    """OpenAI's ``{"object": "list", "data": [...], "model", "usage"}`` for an ``Embeddings`` result."""
    vectors = np.asarray(result.vectors, dtype="<f4")
    if request.encoding_format == "base64":
        data = [base64.b64encode(row.tobytes()).decode("ascii") for row in vectors]
    else:
        data = vectors.tolist()
    body: dict[str, Any] = {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(data)],
        "model": request.model,
        "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens},
    }
    if request.model_studio.stats:
        body["model_studio"] = {"model": result.model, "normalized": result.normalized, "pooling": result.pooling,
                                "dimensions": int(vectors.shape[1]), "token_counts": result.token_counts}
    return body


def answer_embeddings(chat: Any, request: EmbeddingRequest) -> dict[str, Any]:
    """Embed ``request`` with ``chat`` (a ``ChatService``) and shape the answer (blocking: run it in a thread)."""
    result = chat.embeddings(request.inputs(), model=request.model, dimensions=request.dimensions,
                             load_options=request.model_studio.load_options or None)
    return embedding_response(request, result)
