"""The operations every JSON front door offers: one table for the REST API and the notebook widgets.

Each ``Operation`` names an engine call, its REST route and its parameters. The server builds its
routes from this table, widgets answer ``{"kind": "call", "method": name, "params": {...}}``
messages through ``call()``, and the OpenAPI document is checked against it, so the sidebar and a
notebook widget can never drift apart. Parameters are validated here (typed ``ValidationError``
naming the parameter), results are plain JSON.

Two kinds of caller: a trusted Python caller (a notebook widget in the user's kernel) reaches any
path, as ``engine.training.start(dataset="/data/x.jsonl")`` does; a *confined* caller (REST) passes
``roots`` and may only name server paths inside them (see ``PathRule``).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pydantic
from pydantic import BeforeValidator, ConfigDict, Field, PlainValidator, WithJsonSchema

from .config import MAX_MODEL_DIRS, MAX_PATH_CHARS, SETTING_LIMITS
from .core.disk_usage import FREE_CHOICES
from .core.jobs import JobState
from .core.refs import ModelRef
from .errors import ForbiddenPathError, ValidationError
from .validation import shown, studio_error

if TYPE_CHECKING:
    from .core import Engine

#: Keys of ``roots`` (see ``call``): Jupyter's root_dir (the user's notebooks and data) and the studio home.
ROOT_DIR = "root_dir"
STUDIO_HOME = "home"


@dataclass(frozen=True)
class PathRule:
    """A parameter that names a file or folder on the server.

    For a confined caller the value must resolve (``~`` expanded, symlinks followed, ``..`` applied)
    inside one of ``roots``; the resolved absolute path is what the engine receives. A relative
    path is taken from the first root, as Jupyter's contents API does (unless ``relative`` is off).
    ``is_name`` picks the values that are not paths at all (a stored dataset's name).
    """

    roots: tuple[str, ...]
    is_name: Callable[[str], bool] | None = None
    relative: bool = True
    hint: str = ""


def _is_dataset_name(value: str) -> bool:
    from .core.training.service import looks_like_path  # the engine's own rule, kept

    return not looks_like_path(value)


def _is_empty(value: str) -> bool:
    return not value.strip()  # a folder setting set back to its default


_DATA_FILE = PathRule((ROOT_DIR,), is_name=_is_dataset_name,
                      hint="Or upload the file (POST /datasets) and give the dataset's name")
_SERVER_PATH = PathRule((ROOT_DIR, STUDIO_HOME))


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # "str", "int", "float", "bool", "list[str]", "object", "list[object]", "model" (a ModelRef)
    where: str = "query"  # "path", "query" or "body"
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] | None = None
    description: str = ""
    # Limits, enforced by the operation's pydantic model and written into the OpenAPI schemas. Numbers: inclusive
    # minimum/maximum, exclusive bounds for open intervals. Strings: max_length characters (for
    # list[str], of each item); lists: max_items entries.
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    max_length: int | None = None
    max_items: int | None = None
    confine: PathRule | None = None  # a server path: confined for REST callers


# What a JupyterHub or custom jupyter_server Authorizer is asked to allow for each operation.
ACTIONS = ("read", "write", "execute")
# Largest JSON request body of an operation, in bytes (chat messages can be long); the upload
# operations set their own (see _UPLOAD_BODY, _IMAGE_BODY).
MAX_BODY = 8 << 20


@dataclass(frozen=True)
class Operation:
    """One engine call with its REST route.

    ``action`` is what the server's Authorizer must allow: ``read`` (listings, gets, checks that
    change nothing), ``write`` (anything that changes state: downloads, deletes, settings,
    datasets, training and video jobs, cancels) or ``execute`` (loading and running a model).
    Left empty, it follows the HTTP method: GET reads, every other method writes.
    ``max_body``: the largest accepted request body in bytes (413 above it).
    """

    name: str
    http_method: str
    path: str  # relative to /model-studio/api, with {model} or {job_id}
    handler: Callable[..., Any]
    summary: str
    params: tuple[Param, ...] = field(default_factory=tuple)
    status: int = 200
    action: str = ""
    max_body: int = MAX_BODY

    def __post_init__(self) -> None:
        if not self.action:
            object.__setattr__(self, "action", "read" if self.http_method == "GET" else "write")

    @cached_property
    def model(self) -> type[pydantic.BaseModel]:
        """The parameters as one pydantic model: it validates them (``bind``) and is their JSON schema."""
        name = "".join(part.title() for part in re.split(r"[._]", self.name)) + "Params"
        fields: dict[str, Any] = {p.name: (_annotation(p), _field(p)) for p in self.params}
        with warnings.catch_warnings():
            # library.import's ``copy`` (the engine's own keyword) shadows BaseModel.copy, a deprecated
            # method nothing here calls; the parameters are read with model_dump.
            warnings.filterwarnings("ignore", message='Field name "copy"', category=UserWarning)
            return pydantic.create_model(name, __config__=_CONFIG, **fields)


# Unknown parameters are refused; NaN and infinities are not numbers a limit can hold.
_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)
_KINDS = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
          "list[str]": "a list of strings", "object": "an object", "list[object]": "a list of objects",
          "model": "a model name"}
_INT_TEXT = re.compile(r"-?\d{1,18}")


def _type_error(p: Param, value: Any, expected: str | None = None) -> ValidationError:
    return ValidationError(f"Parameter '{p.name}' must be {expected or _KINDS[p.type]}, got {shown(value)!r}",
                           details={"parameter": p.name, "value": shown(value)})


def _lax(p: Param) -> Callable[[Any], Any]:
    """What a query string or JSON value may spell for ``p``'s type, before pydantic checks it.

    pydantic's lax mode would take ``True`` as 1 and ``2.0`` as 2; these are refused, and the
    integers are held to 64 bits (what SQLite and the backends hold; beyond, they overflow).
    """
    def convert(value: Any) -> Any:
        t = p.type
        if t == "int":
            if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise _type_error(p, value)
            if not -(2**63) <= value < 2**63:
                raise _type_error(p, value, "a 64-bit integer")
        elif t == "float":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise _type_error(p, value)
        elif t == "bool":
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
                return value.lower() in ("true", "1", "yes")
            if not isinstance(value, bool):
                raise _type_error(p, value)
        elif t == "list[str]" and isinstance(value, str) and p.where == "query":
            return [v for v in value.split(",") if v]  # ?files=a,b (a JSON body gives a list)
        elif t == "str" and not isinstance(value, str):
            raise _type_error(p, value)
        return value

    return convert


def _model_ref(p: Param) -> Callable[[Any], ModelRef]:
    """A model name parsed once, here: the engine receives the ``ModelRef``."""
    def parse(value: Any) -> ModelRef:
        if isinstance(value, ModelRef):
            return value
        if not isinstance(value, str):
            raise _type_error(p, value)
        if p.max_length is not None and len(value) > p.max_length:
            raise ValidationError(f"Parameter '{p.name}' must be at most {p.max_length} characters long",
                                  details={"parameter": p.name, "value": shown(value), "max_length": p.max_length})
        return ModelRef.parse(value)

    return parse


def _annotation(p: Param) -> Any:
    """``p``'s type for pydantic: None (not given) is always accepted and means the default."""
    item = Annotated[str, Field(max_length=p.max_length)]
    base: Any = {"str": str, "int": int, "float": float, "bool": bool, "list[str]": list[item],
                 "object": dict[str, Any], "list[object]": list[dict[str, Any]]}.get(p.type)
    if p.type == "model":
        schema = {"type": "string", **({"maxLength": p.max_length} if p.max_length is not None else {})}
        return Annotated[ModelRef | None, PlainValidator(_model_ref(p)), WithJsonSchema(schema)]
    if base is None:
        raise AssertionError(f"unknown parameter type {p.type}")
    if p.choices is not None:
        base = Literal[p.choices]
    return Annotated[base | None, BeforeValidator(_lax(p))]


def _field(p: Param) -> Any:
    """``p``'s default, description and limits (a list's max_length is its item count; its items'
    length is in the annotation)."""
    limits: dict[str, Any] = {
        "ge": p.minimum, "le": p.maximum, "gt": p.exclusive_minimum, "lt": p.exclusive_maximum,
        "max_length": p.max_items if p.type.startswith("list") else p.max_length if p.type == "str" else None}
    return Field(p.default, description=p.description or None, **{k: v for k, v in limits.items() if v is not None})


def _confine(param: Param, value: str, roots: Mapping[str, Path | str | None]) -> str:
    """``value`` resolved inside one of the parameter's roots, else ForbiddenPathError (403).

    The answer is the same whether or not an outside path exists, so nothing about files outside
    the roots can be learned from it.
    """
    rule = param.confine
    assert rule is not None
    if rule.is_name is not None and rule.is_name(value):
        return value
    if not value.strip() or "\x00" in value or len(value) > MAX_PATH_CHARS:
        raise ValidationError(f"Parameter '{param.name}' must be a path of 1 to {MAX_PATH_CHARS} characters "
                              "without NUL", details={"parameter": param.name})
    allowed = [Path(r) for k in rule.roots if (r := roots.get(k))]
    try:
        path = Path(value).expanduser()
    except RuntimeError:  # "~someone" without a home directory: a plain (relative) name
        path = Path(value)
    if not path.is_absolute() and not rule.relative:
        raise ValidationError(f"Parameter '{param.name}' must be an absolute path, got {value[:200]!r}",
                              details={"parameter": param.name, "value": value[:200]})
    resolved = _inside(path, allowed)
    if resolved is None:
        shown = [str(r) for r in allowed]
        raise ForbiddenPathError(
            f"Parameter '{param.name}' must name a path inside {' or '.join(shown) or 'an allowed folder'}",
            details={"parameter": param.name, "allowed_roots": shown},
            resolution_steps=[s for s in (f"Give a path inside {' or '.join(shown)}" if shown else "",
                                          rule.hint) if s])
    return str(resolved)


def _inside(path: Path, roots: list[Path]) -> Path | None:
    """``path`` resolved (relative: from the first root), if that lies inside one of ``roots``."""
    if not roots:
        return None
    try:
        # Non-strict: every symlink that exists is followed, a missing tail (an output folder still
        # to be made) is normalised, so "root/new/../../x" and links out of the root are seen for what they are.
        real = (roots[0] / path).resolve()
        for root in roots:
            base = root.resolve()
            if real == base or base in real.parents:
                return real
    except (OSError, RuntimeError, ValueError):  # a symlink loop (Python 3.11 raises RuntimeError)
        pass
    return None


def bind(op: Operation, values: dict[str, Any], roots: Mapping[str, Path | str | None] | None = None
         ) -> dict[str, Any]:
    """Validate ``values`` against ``op``'s parameters; unknown names are rejected.

    ``roots`` (REST: ``{ROOT_DIR: ..., STUDIO_HOME: ...}``) confines path parameters to those
    folders; ``None`` is a trusted Python caller, whose paths are passed on as given.
    """
    known = {p.name for p in op.params}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValidationError(f"Unknown parameter(s) for {op.name}: {', '.join(unknown)}",
                              details={"unknown": unknown, "accepted": sorted(known)})
    for p in op.params:  # null means "not given"
        if p.required and values.get(p.name) is None:
            raise ValidationError(f"Parameter '{p.name}' is required", details={"parameter": p.name})
    try:
        model = op.model.model_validate({k: v for k, v in values.items() if v is not None})
    except pydantic.ValidationError as exc:
        raise studio_error(exc, kinds={p.name: _KINDS[p.type] for p in op.params}) from None
    out = {p.name: getattr(model, p.name) for p in op.params}
    for p in op.params:
        value = out[p.name]
        if p.confine is not None and roots is not None and value is not None:
            out[p.name] = ([_confine(p, v, roots) for v in value] if isinstance(value, list)
                           else _confine(p, value, roots))
    return out


# --- handlers ---------------------------------------------------------------------------------


def _search(eng: Engine, q, task, backend, status, format, sort, limit, hub):
    models = eng.library.search(q or "", task=task, backend=backend, status=status, format=format,
                                sort=sort, limit=limit, hub=hub)
    return {"models": [m.to_dict() for m in models], "hub_error": models.hub_error if hub else None}


def _local(eng: Engine):
    return {"models": [m.to_dict() for m in eng.library.list_local()]}


# ``model`` is a ModelRef (the "model" parameter type); a separate quantization, variant or revision
# is folded into it here, once.

def _info(eng: Engine, model: ModelRef, variant, revision):
    return eng.library.info(model.with_(revision=revision, variant=variant)).to_dict()


def _fit(eng: Engine, model: ModelRef, quantization, context):
    return eng.library.fit(model.with_(variant=quantization), context=context).to_dict()


def _start(eng: Engine, model: ModelRef, quantization, files, include, revision):
    return eng.downloads.start(model.with_(revision=revision, variant=quantization), files=files,
                               include=include).to_dict()


def _import(eng: Engine, path, name, copy):
    return eng.library.import_model(path, name=name, copy=copy).to_dict()


def _import_url(eng: Engine, url, sha256, name):
    return eng.library.import_url(url, sha256=sha256, name=name).to_dict()


def _stores(eng: Engine):
    from .core.stores import store_files

    return {"stores": [s.to_dict() for s in store_files(eng.library.local)]}


def _downloads(eng: Engine, state, limit):
    return {"downloads": [j.to_dict() for j in eng.downloads.list([state] if state else None, limit=limit)]}


def _jobs(eng: Engine, kind, state, q, since, limit):
    jobs = eng.job_center.list(kind, state, q, since=since, limit=limit)
    return {"jobs": [j.to_dict() for j in jobs]}


def _jobs_cleanup(eng: Engine, older_than_days, kinds, dry_run, delete_files):
    return eng.job_center.cleanup(older_than_days, kinds=kinds, dry_run=dry_run, delete_files=delete_files)


def _job(eng: Engine, job_id):
    return eng.jobs.get(job_id).to_dict()


def _chat_load(eng: Engine, model, **options):
    return eng.chat.load(model, **{k: v for k, v in options.items() if v is not None}).describe()


def _chat_complete(eng: Engine, model, messages, stop, backend, quantization, context_length, tool_choice,
                   **sampling):
    options = {"backend": backend, "quantization": quantization, "context_length": context_length}
    if tool_choice not in (None, "auto", "none", "required"):  # the name of one of the tools
        tool_choice = {"type": "function", "function": {"name": tool_choice}}
    return eng.chat.complete(model, messages, stop=stop or None, load_options=options, tool_choice=tool_choice,
                             **sampling)


def _batch_start(eng: Engine, model, prompts, template, system, backend, quantization, stop, **sampling):
    options = {k: v for k, v in (("backend", backend), ("quantization", quantization)) if v is not None}
    return eng.chat.batch_start(prompts, model=model, template=template, system=system, load_options=options,
                                stop=stop or None, **sampling).to_dict()


def _conv(eng: Engine) -> Any:
    """The engine's ConversationStore (``eng.conversations``)."""
    return eng.conversations


def _conversation_import(eng: Engine, conversation, content):
    if (conversation is None) == (content is None):
        raise ValidationError("Give the file as exactly one of 'conversation' (the parsed JSON) or 'content' (its text)",
                              details={"parameters": ["conversation", "content"]})
    return _conv(eng).import_json(conversation if conversation is not None else content)


def _datasets(eng: Engine) -> Any:
    """The engine's DatasetStore (``eng.training.datasets``)."""
    return eng.training.datasets


def _dataset_upload(eng: Engine, filename, content, content_base64, name, mapping, overwrite):
    import base64
    import binascii

    from .core.training.datasets import MAX_UPLOAD_BYTES

    if (content is None) == (content_base64 is None):
        raise ValidationError("Give the file as exactly one of 'content' (text) or 'content_base64'",
                              details={"parameters": ["content", "content_base64"]})
    if content is not None:
        data = content.encode("utf-8")
    else:
        if len(content_base64) > MAX_UPLOAD_BYTES * 4 // 3 + 8:
            raise ValidationError(f"The file is over the {MAX_UPLOAD_BYTES} byte upload limit",
                                  details={"max_bytes": MAX_UPLOAD_BYTES})
        try:
            data = base64.b64decode(content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("Parameter 'content_base64' is not valid base64",
                                  details={"parameter": "content_base64"}) from None
    return _datasets(eng).import_bytes(data, filename=filename, name=name, mapping=mapping or None,
                                       overwrite=overwrite).to_dict()


def _training_start(eng: Engine, base, dataset, **config):
    return eng.training.start(base, dataset, **{k: v for k, v in config.items() if v is not None}).to_dict()


def _training_export(eng: Engine, base, dataset, nnodes, node_rank, master_addr, master_port, partition, time_limit,
                     out_dir, include_zip, **config):
    cluster = dict(nnodes=nnodes, node_rank=node_rank, master_addr=master_addr, master_port=master_port,
                   partition=partition, time_limit=time_limit)
    source = config.pop("job_id", None) or {"base": base, "dataset": dataset,
                                            **{k: v for k, v in config.items() if v is not None}}
    return eng.training.export(source, out_dir=out_dir, write=out_dir is not None, include_zip=include_zip,
                               **cluster)


def _training_estimate(eng: Engine, base, dataset, **config):
    return eng.training.estimate(base, dataset, **{k: v for k, v in config.items() if v is not None})


def _video_generate(eng: Engine, model, prompt, image_base64, last_image_base64, lora_scale, offload, **options):
    from .core.video import decode_base64

    # Decoded here: given as text, the engine would also read a server file of that name.
    image = decode_base64(image_base64, "image_base64") if image_base64 is not None else None
    last = decode_base64(last_image_base64, "last_image_base64") if last_image_base64 is not None else None
    return eng.video.generate(model, prompt, image=image, last_image=last, lora_scale=lora_scale, offload=offload,
                              **{k: v for k, v in options.items() if v is not None}).to_dict()


def _video_plan(eng: Engine, model, offload, has_image, has_last_image, **values):
    return eng.video.plan(model, offload=offload, has_image=has_image, has_last_image=has_last_image, **values)


def _setting(name: str) -> Param:
    """A settings.update parameter typed and described from ``config.SETTING_LIMITS``."""
    limit = SETTING_LIMITS[name]
    return Param(name, "int" if limit.type is int else "float", "body", description=limit.describe(),
                 minimum=limit.minimum, maximum=limit.maximum)


_SINCE = Param("since", "str", max_length=10, description="first UTC day, YYYY-MM-DD")
_UNTIL = Param("until", "str", max_length=10, description="last UTC day, YYYY-MM-DD")
_ENERGY_KIND = Param("kind", "str", choices=("train", "video", "batch", "chat"))


def _energy_job(eng: Engine, job_id: str) -> dict[str, Any]:
    row = eng.energy.job(job_id)
    if row is None:
        from .errors import NotFoundError

        raise NotFoundError(f"No energy recorded for {job_id}", details={"job_id": job_id},
                            resolution_steps=["Energy is recorded for training runs, video generations, batches "
                                              "and chat answers once they end"])
    return row


# Limits mirrored from the engine's own checks (tests/test_api_limits.py compares them):
# video.MAX_PROMPT_CHARS, video.MAX_IMAGE_BYTES, training.datasets.MAX_UPLOAD_BYTES.
MAX_PROMPT_CHARS = 10_000
MAX_IMAGE_BASE64 = (32 << 20) * 4 // 3 + 8 + 256  # the engine's base64 limit, plus room for a data: URL prefix
MAX_UPLOAD_BYTES = 50 << 20
MAX_UPLOAD_BASE64 = MAX_UPLOAD_BYTES * 4 // 3 + 8
MAX_NAME = 512  # org/name[@revision][:QUANT], a quantization, a revision: far above any real one
MAX_PATH = 4096  # a file or folder path (PATH_MAX on Linux)
MAX_LIST = 1000  # rows of a listing

_STATES = tuple(state.value for state in JobState)  # the job states a listing filters on
_MODEL = Param("model", "model", "path", required=True, description="org/name (or local/name)")
_JOB = Param("job_id", "str", "path", required=True)
_DATASET = Param("name", "str", "path", required=True, description="dataset name")
_BODY_MODEL = Param("model", "model", "body", required=True, description="org/name[:QUANT] or local/name",
                    max_length=MAX_NAME)
_BACKEND = Param("backend", "str", "body", description="llama-cpp, transformers (default: from the format)",
                 max_length=64)
_QUANT = Param("quantization", "str", "body", max_length=MAX_NAME)
_CONV_ID = Param("conversation_id", "str", "path", required=True)
_CONV_MODELS = Param("models", "list[str]", "body", max_items=2, max_length=MAX_NAME,
                     description="the model of each lane (two: a comparison)")
_CONV_SYSTEM = Param("system_prompt", "str", "body", max_length=100_000)
_CONV_SAMPLING = Param("sampling", "object", "body", description="the sampling the conversation uses")
_CONV_MESSAGES = ("[{role: system|user|assistant|tool, content, model?, stats?, finish_reason?, tool_calls? "
                  "(an assistant's, OpenAI's shape), tool_call_id? (a tool message's)}]")

def _body_params(json_schema: dict[str, Any]) -> tuple[Param, ...]:
    """Body parameters read from an object's JSON schema: its fields' types, limits and descriptions.

    The declaration stays where the engine validates with it; the engine's defaults stay its own
    (a parameter not given is None here, so the engine picks its default).
    """
    kinds = {"number": "float", "integer": "int", "string": "str", "array": "list[str]"}
    out = []
    for name, schema in json_schema["properties"].items():
        description = schema.get("description", "")
        schema = next((s for s in schema.get("anyOf", []) if s.get("type") != "null"), schema)
        kind = kinds[schema["type"]]
        out.append(Param(name, kind, "body", description=description,
                         minimum=schema.get("minimum"), maximum=schema.get("maximum"),
                         exclusive_minimum=schema.get("exclusiveMinimum"),
                         exclusive_maximum=schema.get("exclusiveMaximum"),
                         max_length=schema.get("items", schema).get("maxLength"), max_items=schema.get("maxItems")))
    return tuple(out)


def _sampling_params() -> tuple[Param, ...]:
    from .core.chat.base import SamplingParams

    return _body_params(SamplingParams.json_schema())


# engine/chat/base.py SamplingParams: the one declaration of the sampling parameters and their limits.
_SAMPLING = _sampling_params()
_CONTEXT_LENGTH = Param("context_length", "int", "body", minimum=16, maximum=10_000_000)
# OpenAI's tool, format and logprob fields (read by engine/chat/structured.py OutputControls)
_OUTPUT_CONTROLS = (
    Param("tools", "list[object]", "body", max_items=128,
          description="OpenAI tools: [{type: function, function: {name, description, parameters}}]"),
    Param("tool_choice", "str", "body", max_length=64,
          description="auto, none, required, or the name of one of the tools (that call is forced)"),
    Param("parallel_tool_calls", "bool", "body"),
    Param("response_format", "object", "body",
          description="{type: text|json_object} or {type: json_schema, json_schema: {name, schema, strict}}"),
    Param("logprobs", "bool", "body", description="each token's log probability in the answer's logprobs"),
    Param("top_logprobs", "int", "body", minimum=0, maximum=20, description="alternatives per token (with logprobs)"),
)

# engine/training/config.py RunConfig.validate
_TRAIN_CONFIG = (
    Param("lora_r", "int", "body", minimum=1, maximum=1024), Param("lora_alpha", "int", "body", minimum=1),
    Param("lora_dropout", "float", "body", minimum=0, exclusive_maximum=1),
    Param("target_modules", "list[str]", "body"), Param("steps", "int", "body", minimum=1, maximum=10_000_000),
    Param("epochs", "float", "body", exclusive_minimum=0),
    Param("learning_rate", "float", "body", exclusive_minimum=0, maximum=1),
    Param("lr_scheduler", "str", "body", choices=("linear", "cosine", "constant", "constant_with_warmup",
                                                  "cosine_with_restarts", "polynomial")),
    Param("warmup_steps", "int", "body", minimum=0), Param("batch_size", "int", "body", minimum=1),
    Param("grad_accum", "int", "body", minimum=1), Param("max_seq_length", "int", "body", minimum=8),
    Param("eval_every", "int", "body", minimum=1),
    Param("eval_fraction", "float", "body", minimum=0, exclusive_maximum=0.9),
    Param("save_every", "int", "body", minimum=1), Param("seed", "int", "body", minimum=0),
    Param("devices", "str", "body", max_length=200,
          description="cpu, all, a GPU index (0 or cuda:0) or GPU indices (0,1); default: GPU 0, else the CPU"),
    Param("num_processes", "int", "body", minimum=1, maximum=256,
          description="processes (one per GPU); more than one runs under torchrun (DDP; gloo on the CPU)"),
    Param("strategy", "str", "body", choices=("ddp", "fsdp", "deepspeed"),
          description="ddp: a full copy per process; fsdp: sharded over GPUs; deepspeed: ZeRO-3 where installed"))
# the answers about the cluster a run is exported to (engine/training/export.py Cluster.validate)
_CLUSTER = (
    Param("nnodes", "int", "body", default=1, minimum=1, maximum=4096),
    Param("node_rank", "int", "body", default=0, minimum=0, maximum=4095),
    Param("master_addr", "str", "body", default="127.0.0.1", max_length=253, description="node 0's address"),
    Param("master_port", "int", "body", default=29500, minimum=1024, maximum=65535),
    Param("partition", "str", "body", max_length=64, description="SLURM partition"),
    Param("time_limit", "str", "body", max_length=64, description="SLURM --time, e.g. 04:00:00"),
    Param("out_dir", "str", "body", confine=_SERVER_PATH, max_length=MAX_PATH,
          description="write the bundle folder (and a zip beside it) here (REST: inside root_dir or the studio "
                      "home); without it the files only come back"),
    Param("include_zip", "bool", "body", default=False, description="also return the bundle as a base64 zip"))

# engine/video/rules.py validate: MAX_SIZE, FPS_RANGE, STEPS_RANGE, GUIDANCE_RANGE (each model narrows them:
# sizes are multiples of its size_multiple, frame counts of the form k*frame_step+1)
_VIDEO_SHAPE = (Param("width", "int", "body", minimum=1, maximum=4096),
                Param("height", "int", "body", minimum=1, maximum=4096),
                Param("num_frames", "int", "body", minimum=1), Param("fps", "int", "body", minimum=1, maximum=120),
                Param("steps", "int", "body", minimum=1, maximum=200),
                Param("guidance", "float", "body", minimum=0, maximum=30))
_OFFLOAD = Param("offload", "str", "body", default="auto", choices=("auto", "none", "model", "sequential", "cpu"),
                 description="auto: the planner's choice")
_VIDEO_DEVICE = Param("device", "str", "body", default="auto", max_length=64,
                      description="auto (the GPU with the most free memory; several GPUs may split a pipeline too, "
                                  "device_map='balanced'), cuda:N or cpu: see GET /video/devices")
_BODY_MODEL_ID = Param("model", "model", "body", required=True, description="org/name or local/name",
                       max_length=MAX_NAME)
# Upload bodies: the file (engine.training.datasets.MAX_UPLOAD_BYTES, 50 MiB) as text, which JSON
# escaping (quotes, newlines) can make up to twice as long, or as base64 (4/3); the image of an
# image-to-video generation (engine.video.MAX_IMAGE_BYTES, 32 MiB) as base64. Plus room for the rest.
_ENDPOINT = Param("name", "str", "path", required=True, max_length=63, description="the endpoint's name")
_ENDPOINT_FIELDS = (
    Param("base_url", "str", "body", required=True, max_length=2000,
          description="the OpenAI base URL, e.g. http://gpu-server:8000/v1"),
    Param("api_key", "str", "body", max_length=4000, description="sent as a Bearer token; never returned"),
    Param("headers", "object", "body", description="extra request headers {name: value}"),
    Param("timeout", "float", "body", minimum=0.1, maximum=3600, description="seconds without an answer"),
    Param("concurrency", "int", "body", minimum=1, maximum=64, description="requests a batch sends at once"))
_UPLOAD_BODY = 2 * (50 << 20) + (1 << 20)
_IMAGE_BODY = (32 << 20) * 4 // 3 + (1 << 20)

OPERATIONS: tuple[Operation, ...] = (
    Operation("library.search", "GET", "/library", _search, "Search catalog, Hub and local models", (
        Param("q", "str", default="", max_length=200), Param("task", "str", choices=("text-generation", "text-to-video",
                                                                     "image-to-video", "feature-extraction",
                                                                     "sentence-similarity")),
        Param("backend", "str", choices=("llama-cpp", "transformers", "diffusers", "remote")),
        Param("status", "str", choices=("available", "downloading", "local", "error", "remote")),
        Param("format", "str", choices=("gguf", "safetensors", "diffusers", "pytorch")),
        Param("sort", "str", default="downloads", choices=("downloads", "size", "name", "likes", "recent")),
        Param("limit", "int", default=50, minimum=1, maximum=MAX_LIST), Param("hub", "bool", default=True))),
    Operation("library.local", "GET", "/library/local", _local, "Models on this machine"),
    Operation("library.backends", "GET", "/backends", lambda eng: {"backends": eng.backends()},
              "Installed backends, GPU use, suggestions and statistics (models, loaded, downloads, bytes)"),
    Operation("library.info", "GET", "/models/{model}", _info, "Files, quantizations, licence, parameters",
              (_MODEL, Param("variant", "str", max_length=100), Param("revision", "str", max_length=200))),
    Operation("library.fit", "GET", "/models/{model}/fit", _fit, "Will it fit in RAM / VRAM?",
              (_MODEL, Param("quantization", "str", max_length=MAX_NAME),
               Param("context", "int", minimum=1, maximum=10_000_000))),
    Operation("library.page", "GET", "/models/{model}/page",
              lambda eng, model, variant: eng.library.page(model, variant),
              "A model's page: card and its metadata (eval results), files with sha256, revisions, gating, fits",
              (_MODEL, Param("variant", "str", max_length=MAX_NAME))),
    Operation("library.verify", "POST", "/models/{model}/verify", lambda eng, model: eng.library.verify(model),
              "Re-check local files against the Hub's checksums", (_MODEL,), action="read"),
    Operation("library.verify_start", "POST", "/models/{model}/verify/start",
              lambda eng, model: eng.library.verify_start(model).to_dict(),
              "Verify as a job: bytes and files done (progress.detail.files_done/files_total/file), cancel "
              "with jobs.cancel; its result is library.verify's. One per model at a time.", (_MODEL,),
              status=202),
    Operation("library.delete", "DELETE", "/models/{model}",
              lambda eng, model, dry_run: eng.library.delete(model, dry_run=dry_run),
              "Delete a model from the cache (dry_run: only report the bytes)",
              (_MODEL, Param("dry_run", "bool", default=False))),
    Operation("library.import", "POST", "/library/import", _import,
              "Import a GGUF file or a safetensors model folder by path as local/<name> (in place unless copy)", (
                  Param("path", "str", "body", required=True, confine=_SERVER_PATH, max_length=MAX_PATH,
                        description="a .gguf file or a folder with config.json and .safetensors (REST: inside "
                                    "root_dir or the studio home)"),
                  Param("name", "str", "body", max_length=96, description="the model's name (default: the file's)"),
                  Param("copy", "bool", "body", default=False,
                        description="copy it into the studio's models folder instead of using it in place"))),
    Operation("library.import_url", "POST", "/library/import-url", _import_url,
              "Download a .gguf from an HTTPS URL as local/<name> (a resumable job; verified when sha256 is given, "
              "listed as unverified otherwise)", (
                  Param("url", "str", "body", required=True, max_length=4096),
                  Param("sha256", "str", "body", max_length=64, description="the file's sha256 (hex)"),
                  Param("name", "str", "body", max_length=96)), status=202),
    Operation("library.stores", "GET", "/library/stores", _stores,
              "Every model store (HF cache, extra folders, imports, LM Studio, Ollama) with its model files, paths "
              "and sizes"),
    Operation("downloads.start", "POST", "/downloads", _start, "Start (or resume) a download", (
        Param("model", "model", "body", required=True, description="org/name[@revision][:QUANT]",
              max_length=MAX_NAME),
        _QUANT, Param("files", "list[str]", "body", max_items=10_000, max_length=1000),
        Param("include", "list[str]", "body", max_items=100, max_length=1000),
        Param("revision", "str", "body", max_length=200)), status=202),
    Operation("downloads.list", "GET", "/downloads", _downloads, "Download jobs, newest first",
              (Param("state", "str", choices=_STATES), Param("limit", "int", default=200, minimum=1, maximum=MAX_LIST))),
    Operation("downloads.get", "GET", "/downloads/{job_id}",
              lambda eng, job_id: eng.downloads.get(job_id).to_dict(), "One download job", (_JOB,)),
    Operation("downloads.cancel", "POST", "/downloads/{job_id}/cancel",
              lambda eng, job_id, discard: eng.downloads.cancel(job_id, discard=discard).to_dict(),
              "Cancel (keeps the partial for resume unless discard)", (_JOB, Param("discard", "bool", "body",
                                                                                   default=False))),
    Operation("downloads.pause", "POST", "/downloads/{job_id}/pause",
              lambda eng, job_id: eng.downloads.pause(job_id).to_dict(), "Pause a download", (_JOB,)),
    Operation("downloads.resume", "POST", "/downloads/{job_id}/resume",
              lambda eng, job_id: eng.downloads.resume(job_id).to_dict(), "Resume a stopped download", (_JOB,)),
    Operation("jobs.list", "GET", "/jobs", _jobs, "All jobs (any kind), newest first", (
        Param("kind", "str", max_length=64, description="download, batch, train, video or verify"),
        Param("state", "str", choices=_STATES),
        Param("q", "str", max_length=200, description="text in the id, title or parameters"),
        Param("since", "float", description="only jobs updated after this Unix time (seconds)"),
        Param("limit", "int", default=200, minimum=1, maximum=MAX_LIST))),
    Operation("jobs.cleanup", "POST", "/jobs/cleanup", _jobs_cleanup,
              "Delete finished jobs older than N days (downloaded models stay; other files unless delete_files)", (
                  Param("older_than_days", "float", "body", required=True, minimum=0, maximum=36_500,
                        description="0: every finished job"),
                  Param("kinds", "list[str]", "body", max_items=16, max_length=64,
                        description="only these kinds (download, batch, train, video)"),
                  Param("dry_run", "bool", "body", default=False, description="only list what would go"),
                  Param("delete_files", "bool", "body", default=False,
                        description="also delete batch answers, training run folders and video outputs"))),
    Operation("jobs.get", "GET", "/jobs/{job_id}", _job, "One job", (_JOB,)),
    Operation("jobs.cancel", "POST", "/jobs/{job_id}/cancel", lambda eng, job_id: eng.job_center.cancel(job_id).to_dict(),
              "Stop a job of any kind (through the service that owns it)", (_JOB,)),
    Operation("jobs.resume", "POST", "/jobs/{job_id}/resume", lambda eng, job_id: eng.job_center.resume(job_id).to_dict(),
              "Resume or retry a stopped or failed job of any kind with the same parameters", (_JOB,)),
    Operation("jobs.delete", "DELETE", "/jobs/{job_id}",
              lambda eng, job_id, delete_files: eng.job_center.delete(job_id, delete_files=delete_files),
              "Delete a finished job (409 while queued or running)",
              (_JOB, Param("delete_files", "bool", default=False,
                           description="also delete its batch answers, run folder or video output"))),
    Operation("settings.get", "GET", "/settings", lambda eng: eng.settings_dict(), "Current settings"),
    Operation("auth.status", "GET", "/auth", lambda eng, check: eng.auth.status(check=check),
              "The Hugging Face login: token source, masked token, user (checked with whoami)",
              (Param("check", "bool", default=True, description="ask the Hub who the token belongs to"),)),
    Operation("auth.login", "POST", "/auth/login", lambda eng, token: eng.auth.login(token),
              "Check a Hugging Face token with whoami and save it as huggingface_hub's login",
              (Param("token", "str", "body", required=True, description="a Hugging Face access token (never echoed)"),)),
    Operation("auth.logout", "POST", "/auth/logout", lambda eng: eng.auth.logout(),
              "Delete the saved Hugging Face token"),
    Operation("capabilities", "GET", "/capabilities", lambda eng: eng.capabilities(),
              "Models per task and format, local and available (catalog and local)"),
    Operation("settings.update", "PATCH", "/settings",
              lambda eng, dry_run, **changes: eng.update_settings(
                  {k: v for k, v in changes.items() if v is not None}, dry_run=dry_run),
              "Change settings at run time (dry_run: only validate and report what would change)", (
                  _setting("max_concurrent_downloads"), _setting("files_per_download"),
                  _setting("memory_budget"), _setting("idle_ttl"), _setting("grid_intensity"), _setting("cpu_tdp"),
                  Param("extra_model_dirs", "list[str]", "body",
                        description=f"at most {MAX_MODEL_DIRS} absolute folder paths (REST: inside root_dir or "
                                    "the studio home)",
                        confine=PathRule((ROOT_DIR, STUDIO_HOME), relative=False)),
                  Param("scan_lmstudio", "bool", "body", description="list LM Studio's models (read-only)"),
                  Param("scan_ollama", "bool", "body", description="list Ollama's models (read-only)"),
                  *(Param(key, "str", "body", max_length=MAX_PATH_CHARS,
                          description=f"{tool}'s models folder; empty: its default (REST: inside root_dir or the "
                                      "studio home)",
                          confine=PathRule((ROOT_DIR, STUDIO_HOME), is_name=_is_empty, relative=False))
                    for key, tool in (("lmstudio_models_dir", "LM Studio"), ("ollama_models_dir", "Ollama"))),
                  Param("dry_run", "bool", "body", default=False,
                        description="validate and report the changes; change nothing in memory or on disk"))),
    Operation("settings.reload", "POST", "/settings/reload", lambda eng: eng.reload_settings(),
              "Read settings.json again after an edit by hand (valid keys applied, bad ones listed)"),
    Operation("system.snapshot", "GET", "/system", lambda eng: eng.system.snapshot().to_dict(),
              "CPU, RAM, disks and GPUs"),
    Operation("system.versions", "GET", "/system/versions", lambda eng: eng.system.versions(),
              "OS, Python, library versions, CUDA, cuDNN, the NVIDIA driver and llama.cpp's build"),
    Operation("memory.holders", "GET", "/memory", lambda eng: eng.memory_holders(),
              "Who holds RAM and GPU memory: each device's room, and the loaded models, video pipelines and "
              "reservations (training runs) with their bytes per device"),
    Operation("chat.models", "GET", "/chat/models", lambda eng: {"models": eng.chat.models()},
              "Local text-generation models an installed backend can load"),
    Operation("chat.loaded", "GET", "/chat/loaded", lambda eng: {"models": eng.chat.loaded()},
              "Models in memory, with their memory and idle time"),
    Operation("chat.load", "POST", "/chat/load", _chat_load, "Load a model for chat (reused when loaded)", (
        _BODY_MODEL, _BACKEND, _CONTEXT_LENGTH, Param("threads", "int", "body", minimum=1, maximum=1024),
        Param("gpu_layers", "int", "body", minimum=-1, description="-1: every layer on the GPU, 0: CPU only"),
        Param("dtype", "str", "body", choices=("float32", "bfloat16", "float16")),
        Param("chat_template", "str", "body", max_length=100_000), _QUANT), action="execute"),
    Operation("chat.unload", "POST", "/chat/unload",
              lambda eng, model, backend: eng.chat.unload(model, backend=backend),
              "Unload a model and free its memory", (_BODY_MODEL, _BACKEND)),
    Operation("chat.complete", "POST", "/chat/complete", _chat_complete, "A whole chat answer (no streaming)", (
        _BODY_MODEL, Param("messages", "list[object]", "body", required=True, max_items=10_000,
                           description="[{role: system|user|assistant|tool, content, tool_calls?, tool_call_id?}]"),
        *_SAMPLING, _BACKEND, _QUANT, _CONTEXT_LENGTH, *_OUTPUT_CONTROLS),
              action="execute"),
    Operation("batch.start", "POST", "/batches", _batch_start,
              "Answer a list of prompts as a resumable job", (
                  _BODY_MODEL, Param("prompts", "list[str]", "body", required=True, max_items=100_000,
                                     max_length=MAX_PROMPT_CHARS),
                  Param("template", "str", "body", default="{prompt}", max_length=MAX_PROMPT_CHARS),
                  Param("system", "str", "body", max_length=MAX_PROMPT_CHARS),
                  *_SAMPLING, _BACKEND, _QUANT), status=202, action="execute"),
    Operation("batch.get", "GET", "/batches/{job_id}", lambda eng, job_id: eng.chat.batch_results(job_id),
              "A batch job and the answers so far", (_JOB,)),
    Operation("batch.list", "GET", "/batches",
              lambda eng, state, limit: {"batches": [j.to_dict() for j in eng.chat.batch_list(state, limit=limit)]},
              "Batch jobs, newest first", (Param("state", "str", choices=_STATES), Param("limit", "int", default=200))),
    Operation("batch.cancel", "POST", "/batches/{job_id}/cancel",
              lambda eng, job_id: eng.chat.batch_cancel(job_id).to_dict(),
              "Stop a batch (the answers so far are kept; resume continues it)", (_JOB,)),
    Operation("batch.resume", "POST", "/batches/{job_id}/resume",
              lambda eng, job_id: eng.chat.batch_resume(job_id).to_dict(),
              "Continue a cancelled, failed or interrupted batch with its unanswered prompts", (_JOB,)),
    # Conversations (core/conversations): the Local Agent Studio seed's "sessions".
    Operation("conversations.list", "GET", "/conversations",
              lambda eng, q, limit, offset: _conv(eng).list(q or "", limit=limit, offset=offset),
              "Saved conversations, newest first; q searches titles and message text", (
                  Param("q", "str", default="", max_length=200),
                  Param("limit", "int", default=50, minimum=1, maximum=MAX_LIST),
                  Param("offset", "int", default=0, minimum=0))),
    Operation("conversations.create", "POST", "/conversations",
              lambda eng, title, models, system_prompt, sampling, messages: _conv(eng).create(
                  title=title, models=models, system_prompt=system_prompt or "", sampling=sampling,
                  messages=messages),
              "Start a conversation (optionally with its first messages)", (
                  Param("title", "str", "body", max_length=200, description="default: from the first user message"),
                  _CONV_MODELS, _CONV_SYSTEM, _CONV_SAMPLING,
                  Param("messages", "list[object]", "body", max_items=1000, description=_CONV_MESSAGES)),
              status=201),
    Operation("conversations.import", "POST", "/conversations/import", _conversation_import,
              "Import a conversation file (the JSON export); a malformed file is refused naming the field", (
                  Param("conversation", "object", "body", description="the file's JSON"),
                  Param("content", "str", "body", max_length=1_000_000,
                        description="the file's text (larger files: send the parsed JSON as 'conversation')")),
              status=201),
    Operation("conversations.get", "GET", "/conversations/{conversation_id}",
              lambda eng, conversation_id: _conv(eng).get(conversation_id),
              "One conversation with the branch shown in each lane", (_CONV_ID,)),
    Operation("conversations.update", "PATCH", "/conversations/{conversation_id}",
              lambda eng, conversation_id, title, models, system_prompt, sampling: _conv(eng).update(
                  conversation_id, title=title, models=models, system_prompt=system_prompt, sampling=sampling),
              "Change a conversation's title, models, system prompt or sampling", (
                  _CONV_ID, Param("title", "str", "body", max_length=200), _CONV_MODELS, _CONV_SYSTEM,
                  _CONV_SAMPLING)),
    Operation("conversations.rename", "POST", "/conversations/{conversation_id}/rename",
              lambda eng, conversation_id, title: _conv(eng).rename(conversation_id, title),
              "Rename a conversation", (_CONV_ID, Param("title", "str", "body", required=True, max_length=200))),
    Operation("conversations.delete", "DELETE", "/conversations/{conversation_id}",
              lambda eng, conversation_id: _conv(eng).delete(conversation_id),
              "Delete a conversation and its messages", (_CONV_ID,)),
    Operation("conversations.append", "POST", "/conversations/{conversation_id}/messages",
              lambda eng, conversation_id, messages, parent_id, lane: _conv(eng).append(
                  conversation_id, messages, parent_id=parent_id, lane=lane),
              "Append messages (a chain) after parent_id, or after the branch shown", (
                  _CONV_ID, Param("messages", "list[object]", "body", required=True, max_items=1000,
                                  description=_CONV_MESSAGES),
                  Param("parent_id", "str", "body", max_length=64, description="default: the lane's last message"),
                  Param("lane", "int", "body", default=0, minimum=0, maximum=1,
                        description="1: the second model of a comparison")), status=201),
    Operation("conversations.branch", "POST", "/conversations/{conversation_id}/branch",
              lambda eng, conversation_id, message_id, content: _conv(eng).branch(conversation_id, message_id, content),
              "Edit a message as a new branch (the old branch is kept)", (
                  _CONV_ID, Param("message_id", "str", "body", required=True, max_length=64),
                  Param("content", "str", "body", required=True, max_length=100_000))),
    Operation("conversations.select", "POST", "/conversations/{conversation_id}/select",
              lambda eng, conversation_id, message_id: _conv(eng).select(conversation_id, message_id),
              "Show the branch through a message", (
                  _CONV_ID, Param("message_id", "str", "body", required=True, max_length=64))),
    Operation("conversations.export", "GET", "/conversations/{conversation_id}/export",
              lambda eng, conversation_id, format: _conv(eng).export(conversation_id, format),
              "A conversation as a file: JSON (every branch; import reads it) or Markdown (the branch shown)", (
                  _CONV_ID, Param("format", "str", default="json", choices=("json", "markdown")))),
    Operation("datasets.list", "GET", "/datasets",
              lambda eng: {"datasets": [d.to_dict() for d in _datasets(eng).list()]}, "Imported training datasets"),
    Operation("datasets.get", "GET", "/datasets/{name}", lambda eng, name: _datasets(eng).get(name).to_dict(),
              "One dataset: format, shape, rows, columns, mapping", (_DATASET,)),
    Operation("datasets.upload", "POST", "/datasets", _dataset_upload,
              "Import a JSONL, CSV or Parquet file (every row validated first)", (
                  Param("filename", "str", "body", required=True, description="ends .jsonl, .csv or .parquet",
                        max_length=255),
                  Param("content", "str", "body", description="the file as text (JSONL, CSV)",
                        max_length=MAX_UPLOAD_BYTES),
                  Param("content_base64", "str", "body", description="the file as base64 (any format)",
                        max_length=MAX_UPLOAD_BASE64),
                  Param("name", "str", "body", description="[A-Za-z0-9._-]{1,64}; default: from the filename",
                        max_length=64),
                  Param("mapping", "object", "body", description='shape fields to columns, e.g. '
                        '{"prompt": "question", "completion": "answer"}'),
                  Param("overwrite", "bool", "body", default=False)), status=201, max_body=_UPLOAD_BODY),
    Operation("datasets.preview", "GET", "/datasets/{name}/preview",
              lambda eng, name, model, rows: _datasets(eng).preview(name, model=model, rows=rows),
              "First rows: raw, as chat messages, and through a model's chat template",
              (_DATASET, Param("model", "model", description="render with this model's chat template",
                               max_length=MAX_NAME),
               Param("rows", "int", default=5, minimum=1, maximum=100))),
    Operation("datasets.stats", "GET", "/datasets/{name}/stats",
              lambda eng, name, model, max_seq_length: _datasets(eng).token_stats(
                  name, model, max_seq_length=max_seq_length),
              "Token lengths through a model's chat template; rows over the limit",
              (_DATASET, Param("model", "model", required=True, max_length=MAX_NAME),
               Param("max_seq_length", "int", default=512, minimum=8, maximum=10_000_000))),
    Operation("datasets.delete", "DELETE", "/datasets/{name}", lambda eng, name: _datasets(eng).delete(name),
              "Delete a dataset", (_DATASET,)),
    Operation("training.start", "POST", "/training/runs", _training_start,
              "Start a LoRA fine-tuning run (validated before the worker starts)", (
                  Param("base", "model", "body", required=True, description="local/name, org/name[:QUANT]",
                        max_length=MAX_NAME),
                  Param("dataset", "str", "body", required=True, confine=_DATA_FILE, max_length=MAX_PATH,
                        description="a stored dataset's name, or a data file's path (REST: inside root_dir)"),
                  *_TRAIN_CONFIG), status=202),
    Operation("training.runs", "GET", "/training/runs", lambda eng, limit: {"runs": eng.training.runs(limit=limit)},
              "Training runs, newest first, with their last metrics",
              (Param("limit", "int", default=200, minimum=1, maximum=MAX_LIST),)),
    Operation("training.get", "GET", "/training/runs/{job_id}", lambda eng, job_id: eng.training.get(job_id).to_dict(),
              "One training run", (_JOB,)),
    Operation("training.metrics", "GET", "/training/runs/{job_id}/metrics",
              lambda eng, job_id, since_step: {"metrics": eng.training.metrics(job_id, since_step=since_step)},
              "Metrics per logged step (loss, eval_loss, learning_rate, grad_norm, tokens/s, energy)",
              (_JOB, Param("since_step", "int", default=0, minimum=0))),
    Operation("training.logs", "GET", "/training/runs/{job_id}/logs",
              lambda eng, job_id, tail: {"log": eng.training.logs(job_id, tail=tail)},
              "The worker's log (last lines)",
              (_JOB, Param("tail", "int", default=200, minimum=1, maximum=100_000))),
    Operation("training.cancel", "POST", "/training/runs/{job_id}/cancel",
              lambda eng, job_id: eng.training.cancel(job_id).to_dict(),
              "Stop a run (a checkpoint is saved for resume)", (_JOB,)),
    Operation("training.resume", "POST", "/training/runs/{job_id}/resume",
              lambda eng, job_id, num_processes: eng.training.resume(job_id, num_processes=num_processes).to_dict(),
              "Continue a stopped run from its latest checkpoint (on as many processes as before, or num_processes)",
              (_JOB, Param("num_processes", "int", "body", minimum=1, maximum=256))),
    Operation("training.export", "POST", "/training/export", _training_export,
              "A run config as the command and files that run it elsewhere: launch.sh (torchrun), slurm.sbatch, "
              "config.json, data.jsonl", (
                  Param("base", "model", "body", required=True, max_length=MAX_NAME),
                  Param("dataset", "str", "body", required=True, confine=_DATA_FILE, max_length=MAX_PATH,
                        description="a stored dataset's name, or a data file's path (REST: inside root_dir)"),
                  *_TRAIN_CONFIG, *_CLUSTER)),
    Operation("training.export_run", "POST", "/training/runs/{job_id}/export",
              lambda eng, job_id, **kw: _training_export(eng, None, None, job_id=job_id, **kw),
              "A run's config and data as the command and files that run it elsewhere", (_JOB, *_CLUSTER)),
    Operation("training.merge", "POST", "/training/runs/{job_id}/merge",
              lambda eng, job_id, out_dir: {"path": eng.training.merge(job_id, out_dir=out_dir)},
              "Merge the adapter into the base model and save a model folder",
              (_JOB, Param("out_dir", "str", "body", confine=_SERVER_PATH, max_length=MAX_PATH,
                           description="default: the run's folder (REST: inside root_dir or the studio home)"))),
    Operation("training.estimate", "POST", "/training/estimate", _training_estimate,
              "Rough memory and time of a run", (
                  Param("base", "model", "body", required=True, max_length=MAX_NAME),
                  Param("dataset", "str", "body", confine=_DATA_FILE, max_length=MAX_PATH,
                        description="a stored dataset's name, or a data file's path (REST: inside root_dir)"),
                  *_TRAIN_CONFIG),
              action="read"),
    Operation("video.models", "GET", "/video/models", lambda eng: {"models": eng.video.models()},
              "Video models: local diffusers pipelines and the catalog's, with defaults, rules and size presets"),
    Operation("video.model", "GET", "/video/models/{model}", lambda eng, model: eng.video.model(model),
              "Is a video model ready here: downloaded, verified, fits (with which strategy at its defaults), loaded",
              (_MODEL,)),
    Operation("video.devices", "GET", "/video/devices", lambda eng: {"devices": eng.video.devices()},
              "Devices a generation may pick: auto (and the GPU it picks now), each GPU with its free and total "
              "bytes, and the CPU"),
    Operation("video.loaded", "GET", "/video/loaded", lambda eng: {"pipelines": eng.video.loaded()},
              "Video pipelines held in memory (one per device), with their bytes and idle time"),
    Operation("video.unload", "POST", "/video/unload", lambda eng, device: eng.video.unload(device),
              "Free a held video pipeline (all devices when none is named)",
              (Param("device", "str", "body", description="cpu, cuda:0, ...; default: every device",
                     max_length=64),)),
    Operation("video.plan", "POST", "/video/plan", _video_plan,
              "Validate a generation and plan its memory on this machine (nothing is loaded)", (
                  _BODY_MODEL_ID, *_VIDEO_SHAPE, _OFFLOAD, _VIDEO_DEVICE,
                  Param("has_image", "bool", "body", default=False, description="an input image will be given"),
                  Param("has_last_image", "bool", "body", default=False,
                        description="a last frame will be given too (first-last-frame models)")),
              action="read"),
    Operation("video.generate", "POST", "/video", _video_generate,
              "Queue a text-to-video or image-to-video generation (checked and planned first)", (
                  _BODY_MODEL_ID, Param("prompt", "str", "body", required=True, max_length=MAX_PROMPT_CHARS),
                  Param("negative_prompt", "str", "body", max_length=MAX_PROMPT_CHARS),
                  Param("image_base64", "str", "body", description="PNG/JPEG/WebP as base64 (a data: URL too)",
                        max_length=MAX_IMAGE_BASE64),
                  Param("last_image_base64", "str", "body", max_length=MAX_IMAGE_BASE64,
                        description="the last frame (first-last-frame models; needs image_base64), like image_base64"),
                  *_VIDEO_SHAPE, Param("seed", "int", "body", description="default: random (saved)",
                                       minimum=0, maximum=2**32 - 1),
                  Param("lora", "str", "body", confine=_SERVER_PATH, max_length=MAX_PATH,
                        description="path of LoRA weights (.safetensors or a folder; REST: inside root_dir or the "
                                    "studio home)"),
                  Param("lora_scale", "float", "body", default=1.0, minimum=-2, maximum=4), _OFFLOAD,
                  _VIDEO_DEVICE), status=202,
              max_body=2 * _IMAGE_BODY),
    Operation("video.list", "GET", "/video",
              lambda eng, state, limit: {"generations": [j.to_dict() for j in eng.video.list(state, limit=limit)]},
              "Generations, newest first (completed ones form the gallery)",
              (Param("state", "str", choices=_STATES), Param("limit", "int", default=100, minimum=1, maximum=MAX_LIST))),
    Operation("video.get", "GET", "/video/{job_id}", lambda eng, job_id: eng.video.get(job_id).to_dict(),
              "One generation", (_JOB,)),
    Operation("video.cancel", "POST", "/video/{job_id}/cancel", lambda eng, job_id: eng.video.cancel(job_id).to_dict(),
              "Stop a generation between two steps (no video is written)", (_JOB,)),
    Operation("video.resume", "POST", "/video/{job_id}/resume", lambda eng, job_id: eng.video.resume(job_id).to_dict(),
              "Run a stopped or failed generation again with the same parameters and seed", (_JOB,)),
    Operation("video.delete", "DELETE", "/video/{job_id}", lambda eng, job_id: eng.video.delete(job_id),
              "Delete a finished generation and its files", (_JOB,)),
    Operation("video.media", "GET", "/video/{job_id}/media",
              lambda eng, job_id, what: eng.video.media(job_id, what),
              "A generation's video, thumbnail or input image (or last frame) as base64 (the .mp4 and .jpg routes serve "
              "the files)",
              (_JOB, Param("what", "str", default="video", choices=("video", "thumbnail", "image", "last_image")))),
    Operation("endpoints.list", "GET", "/endpoints", lambda eng, check: {"endpoints": eng.endpoints.list(check=check)},
              "Remote serving endpoints (their keys never shown; check: ask each for its models)",
              (Param("check", "bool", default=False, description="add each endpoint's health (asks it)"),)),
    Operation("endpoints.add", "POST", "/endpoints", lambda eng, name, base_url, **rest: eng.endpoints.add(
        name, base_url, **{k: v for k, v in rest.items() if v is not None}),
              "Register a remote OpenAI-compatible serving engine (vLLM, TGI, Ollama, llama_cpp.server)", (
                  Param("name", "str", "body", required=True, max_length=63, description="letters, digits, . _ -"),
                  *_ENDPOINT_FIELDS), status=201),
    Operation("endpoints.get", "GET", "/endpoints/{name}", lambda eng, name: eng.endpoints.get(name),
              "One remote endpoint (its key never shown)", (_ENDPOINT,)),
    Operation("endpoints.update", "PATCH", "/endpoints/{name}", lambda eng, name, **rest: eng.endpoints.update(
        name, **rest), "Change a remote endpoint (api_key \"\" removes the key)",
              (_ENDPOINT, *(Param(p.name, p.type, "body", max_length=p.max_length, minimum=p.minimum,
                                  maximum=p.maximum, description=p.description) for p in _ENDPOINT_FIELDS))),
    Operation("endpoints.remove", "DELETE", "/endpoints/{name}", lambda eng, name: eng.endpoints.remove(name),
              "Forget a remote endpoint and its key", (_ENDPOINT,)),
    Operation("endpoints.test", "POST", "/endpoints/{name}/test", lambda eng, name: eng.endpoints.test(name),
              "Health of a remote endpoint: ok with its models, down (NetworkError) or unauthorized (wrong key)",
              (_ENDPOINT,), action="read"),
    Operation("disk.usage", "GET", "/disk", lambda eng, duplicates, min_size, older_than_days: eng.disk.report(
                  duplicates=duplicates, min_size=min_size, older_than_days=older_than_days),
              "Disk use: bytes per model store (HF cache, the studio's folders, model folders, other tools' stores), "
              "duplicates across them (same sha256) and what could be freed", (
                  Param("duplicates", "bool", default=True, description="hash files of equal size to find copies"),
                  Param("min_size", "int", default=1 << 20, minimum=0, maximum=2**50,
                        description="bytes: smaller files are not checked for duplicates"),
                  Param("older_than_days", "float", default=30.0, minimum=0, maximum=36_500,
                        description="video outputs older than this count as freeable"))),
    Operation("disk.free", "POST", "/disk/free",
              lambda eng, what, path, older_than_days: eng.disk.free(what, path, older_than_days=older_than_days),
              "Delete what the studio owns: a duplicate copy (another copy stays), partial downloads, failed or "
              "stopped jobs' files, or old video outputs; never another tool's store", (
                  Param("what", "str", "body", required=True, choices=FREE_CHOICES),
                  Param("path", "str", "body", max_length=MAX_PATH_CHARS,
                        description="the copy to delete (what='duplicate'); REST: inside the studio home",
                        confine=PathRule((STUDIO_HOME,), relative=False)),
                  Param("older_than_days", "float", "body", default=30.0, minimum=0, maximum=36_500))),
    Operation("energy.summary", "GET", "/energy", lambda eng, since, until: eng.energy.summary(since, until),
              "Energy (Wh) and carbon (gCO2e) over a period: total, per kind, per model, per day, with the methods "
              "and the grid intensity's source", (_SINCE, _UNTIL)),
    Operation("energy.jobs", "GET", "/energy/jobs",
              lambda eng, since, until, kind, limit: {"rows": eng.energy.rows(since, until, kind, limit)},
              "Energy per job (and chat answers per model per day), newest first",
              (_SINCE, _UNTIL, _ENERGY_KIND, Param("limit", "int", default=1000, minimum=1, maximum=100_000))),
    Operation("energy.job", "GET", "/energy/jobs/{job_id}", lambda eng, job_id: _energy_job(eng, job_id),
              "One job's energy and carbon", (_JOB,)),
    Operation("energy.export", "GET", "/energy/export",
              lambda eng, since, until, kind: eng.energy.export_csv(since, until, kind),
              "Energy rows of a period as a CSV file (content, filename, media_type)", (_SINCE, _UNTIL, _ENERGY_KIND)),
    Operation("host.status", "GET", "/host", lambda eng: eng.host.status(),
              "The model host: up, down or crashed; pid, restarts, last crash, and the models and pipelines it holds"),
    Operation("host.stop", "POST", "/host/stop", lambda eng: eng.host.stop(),
              "Stop the model host (its models unload; the next chat or video starts a new one)", action="write"),
    Operation("host.logs", "GET", "/host/logs", lambda eng, lines: eng.host.logs(lines), "The model host's log (last lines)",
              (Param("lines", "int", default=200, minimum=1, maximum=100_000),)),
)

BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}


def call(engine: Engine, name: str, params: dict[str, Any] | None = None, *,
         roots: Mapping[str, Path | str | None] | None = None) -> Any:
    """Run operation ``name`` with JSON ``params`` (validated) and return its JSON result.

    ``roots`` confines path parameters (see ``bind``); ``None`` (a kernel's widgets) keeps full paths.
    """
    op = BY_NAME.get(name) if isinstance(name, str) else None
    if op is None:
        raise ValidationError(f"Unknown operation {name!r}", details={"operation": name,
                                                                      "known": sorted(BY_NAME)})
    if params is not None and not isinstance(params, dict):
        raise ValidationError("params must be an object", details={"operation": name})
    return op.handler(engine, **bind(op, params or {}, roots))
