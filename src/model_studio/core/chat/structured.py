"""Tools, structured output and log probabilities: OpenAI's request fields as the engine reads them.

``OutputControls.checked(...)`` is the one reading of ``tools``, ``tool_choice``,
``parallel_tool_calls``, ``response_format``, ``logprobs`` and ``top_logprobs`` (the ``/v1`` doors,
``engine.chat.stream`` and the REST ``chat.complete`` operation all call it). What a backend gets
is a ``Guide``: the tools to render, the JSON schema decoding must follow, how many log
probabilities to report.

How a tool-calling answer is made (``ToolCalls`` below; ``ChatService`` drives it):

1. The prompt. A chat template with tool syntax (its Jinja reads a ``tools`` variable: Qwen,
   Llama 3.1+, Hermes, Mistral...) renders the tools itself: ``tool_format = "template"``. A
   template without (the starter SmolLM2-135M's ChatML has none) gets the documented fallback,
   ``tool_format = "json"``, modelled on llama-cpp-python's ``chatml-function-calling``: a
   system message lists the functions and asks for a JSON array ``[{"name", "arguments"}]``;
   earlier assistant tool calls become that JSON and ``tool`` results become user messages
   ("Result of NAME (call ID): ..."), so any template renders the history.
2. The decoding. ``tool_choice`` ``"required"`` or a named function: decoding is constrained by
   a JSON schema (llama.cpp's grammar, llguidance on transformers) to an array of
   ``{"name", "arguments"}`` objects whose ``arguments`` follow the function's ``parameters``:
   the calls always parse and validate. ``"auto"``: the model answers freely and an answer that
   is a call in a known syntax (the fallback's array, Hermes/Qwen ``<tool_call>{...}</tool_call>``,
   Mistral ``[TOOL_CALLS] [...]``, Llama's bare ``{"name", "parameters"}``) becomes tool calls;
   anything else is text. ``"none"``: no tools are offered.
3. ``response_format`` ``json_object`` (any JSON object) and ``json_schema`` constrain decoding
   the same way, so the answer parses (and, for a schema, validates) unless ``max_tokens`` cuts
   it (``finish_reason: "length"``).
"""

from __future__ import annotations

import inspect
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ...errors import ValidationError

MAX_TOOLS = 128  # OpenAI's own limit on tools per request
MAX_PARALLEL_TOOL_CALLS = 8  # calls one constrained answer may hold (a weak model could repeat forever)
MAX_TOP_LOGPROBS = 20  # OpenAI's limit
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
ANY_JSON_OBJECT: dict[str, Any] = {"type": "object"}
TOOL_ROLES = ("system", "user", "assistant", "tool")


MIN_LOGPROB = -9999.0  # what OpenAI reports for a token with no chance (JSON has no -Infinity)


def logprob_entry(text: str, raw: bytes, logprob: float) -> dict[str, Any]:
    """One OpenAI ``logprobs.content`` item (without ``top_logprobs``)."""
    return {"token": text, "logprob": max(float(logprob), MIN_LOGPROB), "bytes": list(raw)}


def _bad(message: str, param: str) -> ValidationError:
    return ValidationError(message, details={"param": param})


@dataclass
class Guide:
    """What a backend needs for one answer beyond the sampling parameters."""

    tools: list[dict[str, Any]] | None = None  # OpenAI tool objects, for a template with tool syntax
    json_schema: dict[str, Any] | None = None  # decoding follows this schema (a grammar)
    logprobs: int | None = None  # report the chosen token's log probability and this many alternatives


@dataclass
class OutputControls:
    """OpenAI's tool, format and logprob fields, checked."""

    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, Any] = "auto"
    parallel_tool_calls: bool = True
    response_format: dict[str, Any] | None = None
    logprobs: bool = False
    top_logprobs: int = 0

    @classmethod
    def checked(cls, *, tools: Any = None, tool_choice: Any = None, parallel_tool_calls: Any = None,
                response_format: Any = None, logprobs: Any = None, top_logprobs: Any = None) -> OutputControls:
        """The fields validated; a ``ValidationError`` whose ``details["param"]`` names the bad one."""
        out = cls()
        if tools is not None:
            if not isinstance(tools, list) or len(tools) > MAX_TOOLS:
                raise _bad(f"'tools' must be an array of at most {MAX_TOOLS} function tools", "tools")
            names = set()
            for i, tool in enumerate(tools):
                fn = tool.get("function") if isinstance(tool, dict) else None
                if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict):
                    raise _bad(f"tools[{i}] must be {{\"type\": \"function\", \"function\": {{name, parameters}}}}",
                               f"tools[{i}]")
                name = fn.get("name")
                if not isinstance(name, str) or not _NAME.fullmatch(name):
                    raise _bad(f"tools[{i}].function.name must be 1-64 letters, digits, '_' or '-'; got {name!r}",
                               f"tools[{i}].function.name")
                if name in names:
                    raise _bad(f"tools[{i}]: the function name {name!r} is used twice", f"tools[{i}].function.name")
                names.add(name)
                params = fn.get("parameters", {"type": "object", "properties": {}})
                if not isinstance(params, dict):
                    raise _bad(f"tools[{i}].function.parameters must be a JSON schema object",
                               f"tools[{i}].function.parameters")
                if fn.get("description") is not None and not isinstance(fn["description"], str):
                    raise _bad(f"tools[{i}].function.description must be a string", f"tools[{i}].function.description")
                out.tools.append({"type": "function", "function": {**fn, "parameters": params}})
        if tool_choice is not None:
            named = tool_choice.get("function", {}).get("name") if isinstance(tool_choice, dict) \
                and isinstance(tool_choice.get("function"), dict) else None
            if tool_choice not in ("auto", "none", "required") and named is None:
                raise _bad("'tool_choice' must be 'auto', 'none', 'required' or "
                           "{\"type\": \"function\", \"function\": {\"name\": ...}}", "tool_choice")
            if tool_choice in ("required",) or named is not None:
                if not out.tools:
                    raise _bad("'tool_choice' asks for a tool call but 'tools' is empty", "tool_choice")
            if named is not None and named not in {t["function"]["name"] for t in out.tools}:
                raise _bad(f"'tool_choice' names the function {named!r}, which is not among 'tools'", "tool_choice")
            out.tool_choice = {"type": "function", "function": {"name": named}} if named else tool_choice
        if parallel_tool_calls is not None:
            if not isinstance(parallel_tool_calls, bool):
                raise _bad("'parallel_tool_calls' must be a boolean", "parallel_tool_calls")
            out.parallel_tool_calls = parallel_tool_calls
        out.response_format = _response_format(response_format)
        if out.response_format is not None and out.calls_forced:
            raise _bad("A forced tool call and 'response_format' cannot both constrain one answer", "response_format")
        if logprobs is not None and not isinstance(logprobs, bool):
            raise _bad("'logprobs' must be a boolean", "logprobs")
        out.logprobs = bool(logprobs)
        if top_logprobs is not None:
            if isinstance(top_logprobs, bool) or not isinstance(top_logprobs, int) \
                    or not 0 <= top_logprobs <= MAX_TOP_LOGPROBS:
                raise _bad(f"'top_logprobs' must be an integer between 0 and {MAX_TOP_LOGPROBS}", "top_logprobs")
            if not out.logprobs:
                raise _bad("'top_logprobs' needs 'logprobs': true", "top_logprobs")
            out.top_logprobs = top_logprobs
        return out

    @property
    def offers_tools(self) -> bool:
        return bool(self.tools) and self.tool_choice != "none"

    @property
    def calls_forced(self) -> bool:
        return self.offers_tools and self.tool_choice != "auto"

    @property
    def empty(self) -> bool:
        return not self.offers_tools and self.response_format is None and not self.logprobs

    def offered(self) -> list[dict[str, Any]]:
        """The tools the model may call (only the named one under a named ``tool_choice``)."""
        if isinstance(self.tool_choice, dict):
            return [t for t in self.tools if t["function"]["name"] == self.tool_choice["function"]["name"]]
        return self.tools if self.offers_tools else []

    def decoding_schema(self) -> dict[str, Any] | None:
        """The JSON schema decoding must follow, or None for free text."""
        if self.calls_forced:
            return calls_schema(self.offered(), 1 if (isinstance(self.tool_choice, dict)
                                                      or not self.parallel_tool_calls) else MAX_PARALLEL_TOOL_CALLS)
        fmt = self.response_format
        if fmt is None:
            return None
        if fmt["type"] != "json_schema":
            return ANY_JSON_OBJECT
        schema = fmt["json_schema"].get("schema") or ANY_JSON_OBJECT
        return closed(schema) if fmt["json_schema"].get("strict") else schema


def closed(schema: dict[str, Any]) -> dict[str, Any]:
    """An object schema that does not say otherwise holds only its declared properties (as OpenAI's
    strict mode requires; llama.cpp's grammar already reads it so, llguidance would let a model
    add properties of its own)."""
    if schema.get("type") == "object" and "additionalProperties" not in schema and "properties" in schema:
        return {**schema, "additionalProperties": False}
    return schema


def _response_format(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) \
                or not isinstance(spec.get("schema", {}), dict):
            raise _bad("response_format.json_schema must be {\"name\": ..., \"schema\": {...}, \"strict\": ...}",
                       "response_format.json_schema")
        return {"type": "json_schema", "json_schema": spec}
    raise _bad("'response_format' must be {\"type\": \"text\"}, {\"type\": \"json_object\"} or "
               "{\"type\": \"json_schema\", \"json_schema\": {...}}", "response_format")


def calls_schema(tools: list[dict[str, Any]], max_calls: int) -> dict[str, Any]:
    """An array of 1..``max_calls`` ``{"name", "arguments"}`` objects, one shape per function."""
    calls = [{"type": "object", "properties": {"name": {"const": t["function"]["name"]},
                                               "arguments": closed(t["function"]["parameters"])},
              "required": ["name", "arguments"], "additionalProperties": False} for t in tools]
    item = calls[0] if len(calls) == 1 else {"anyOf": calls}
    return {"type": "array", "items": item, "minItems": 1, "maxItems": max_calls}


# --- messages -------------------------------------------------------------------------------------


def checked_messages(messages: Any) -> list[dict[str, Any]]:
    """OpenAI's messages: roles system/user/assistant/tool, assistant ``tool_calls`` (content may
    then be empty), ``tool`` results with the ``tool_call_id`` they answer."""
    if not isinstance(messages, list) or not messages:
        raise ValidationError("messages must be a non-empty list of {role, content}")
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        calls = m.get("tool_calls") if role == "assistant" else None
        content = m.get("content") if isinstance(m, dict) else None
        if role not in TOOL_ROLES or not (isinstance(content, str) or (calls and content is None)):
            raise ValidationError(f"messages[{i}] must be {{'role': one of {TOOL_ROLES}, 'content': str}}",
                                  details={"index": i, "param": f"messages[{i}]"})
        msg: dict[str, Any] = {"role": role, "content": content or ""}
        if calls:
            msg["tool_calls"] = _checked_calls(i, calls)
        if role == "tool":
            if not isinstance(m.get("tool_call_id"), str):
                raise ValidationError(f"messages[{i}]: a tool message needs the 'tool_call_id' it answers",
                                      details={"index": i, "param": f"messages[{i}].tool_call_id"})
            msg["tool_call_id"] = m["tool_call_id"]
            if isinstance(m.get("name"), str):
                msg["name"] = m["name"]
        out.append(msg)
    return out


def _checked_calls(i: int, calls: Any) -> list[dict[str, Any]]:
    ok = isinstance(calls, list) and all(
        isinstance(c, dict) and isinstance(c.get("function"), dict) and isinstance(c["function"].get("name"), str)
        and isinstance(c["function"].get("arguments", ""), str) for c in calls)
    if not ok:
        raise ValidationError(f"messages[{i}].tool_calls must be [{{id, type: 'function', function: {{name, "
                              "arguments: JSON text}}}}]", details={"index": i, "param": f"messages[{i}].tool_calls"})
    return [{"id": str(c.get("id") or new_call_id()), "type": "function",
             "function": {"name": c["function"]["name"], "arguments": c["function"].get("arguments") or "{}"}}
            for c in calls]


def has_tool_history(messages: list[dict[str, Any]]) -> bool:
    return any(m["role"] == "tool" or m.get("tool_calls") for m in messages)


def for_template(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages for a template with tool syntax: ``arguments`` as objects, as templates expect them."""
    out = []
    for m in messages:
        if m.get("tool_calls"):
            m = {**m, "tool_calls": [{**c, "function": {"name": c["function"]["name"],
                                                        "arguments": _loads(c["function"]["arguments"])}}
                                     for c in m["tool_calls"]]}
        out.append(m)
    return out


def fallback_messages(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``json`` fallback: tools described in a system message, the tool history as plain text."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.get("tool_calls"):
            calls = [{"name": c["function"]["name"], "arguments": _loads(c["function"]["arguments"])}
                     for c in m["tool_calls"]]
            names.update({c["id"]: c["function"]["name"] for c in m["tool_calls"]})
            out.append({"role": "assistant", "content": (m["content"] + "\n" if m["content"] else "") + json.dumps(calls)})
        elif m["role"] == "tool":
            name = m.get("name") or names.get(m["tool_call_id"], "the function")
            out.append({"role": "user", "content": f"Result of {name} (call {m['tool_call_id']}): {m['content']}"})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    if tools:
        listed = json.dumps([{k: t["function"][k] for k in ("name", "description", "parameters") if k in t["function"]}
                             for t in tools])
        prompt = (f"You can call these functions: {listed}\nTo call functions, answer with only a JSON array "
                  "like [{\"name\": \"function_name\", \"arguments\": {...}}]. Otherwise answer normally.")
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": out[0]["content"] + "\n\n" + prompt}
        else:
            out.insert(0, {"role": "system", "content": prompt})
    return out


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def prepare(controls: OutputControls, messages: list[dict[str, Any]],
            loaded: Any) -> tuple[list[dict[str, Any]], Guide | None, str | None]:
    """(messages as ``loaded``'s template gets them, its ``Guide`` or None, the ``tool_format``).

    A backend whose ``stream`` takes no ``guide`` cannot serve what needs one: a ValidationError
    names the field and says why (OpenAI's 400 on ``/v1``).
    """
    tool_format = None
    if controls.offers_tools or has_tool_history(messages):
        native = loaded.tool_syntax()
        tool_format = "template" if native else "json"
        messages = for_template(messages) if native else fallback_messages(messages, controls.offered())
    guide = Guide(tools=(controls.offered() or None) if tool_format == "template" else None,
                  json_schema=controls.decoding_schema(),
                  logprobs=controls.top_logprobs if controls.logprobs else None)
    if guide == Guide():
        return messages, None, tool_format
    if "guide" not in inspect.signature(loaded.stream).parameters:
        wanted = "response_format" if controls.response_format else "tool_choice" if controls.calls_forced \
            else "tools" if guide.tools else "logprobs"
        raise ValidationError(f"The {loaded.backend} backend of {loaded.model_id} cannot serve '{wanted}': it "
                              "neither constrains its output, renders tools nor reports log probabilities",
                              details={"model": loaded.model_id, "backend": loaded.backend, "param": wanted},
                              resolution_steps=["Load the model with the llama-cpp or transformers backend"])
    return messages, guide, tool_format


# --- answers ---------------------------------------------------------------------------------------


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


_MARKERS = ("<tool_call>", "[TOOL_CALLS]", "{", "[")


def parse_tool_calls(text: str, names: set[str]) -> list[dict[str, Any]] | None:
    """Tool calls in ``text`` (the syntaxes in the module's notes), or None when it is an answer."""
    body = text.strip()
    if body.startswith("[TOOL_CALLS]"):
        body = body[len("[TOOL_CALLS]"):].strip()
    found: list[Any] = []
    if "<tool_call>" in body:
        for block in re.findall(r"<tool_call>(.*?)(?:</tool_call>|$)", body, re.DOTALL):
            found.append(_loads(block.strip()))
    else:
        found.append(_loads(body))
    calls = []
    for item in found:
        for call in (item if isinstance(item, list) else [item]):
            if not isinstance(call, dict):
                return None
            fn: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else call
            args = fn.get("arguments", fn.get("parameters"))
            if isinstance(args, str):
                args = _loads(args)
            if fn.get("name") not in names or not isinstance(args, dict):
                return None
            calls.append({"id": new_call_id(), "type": "function",
                          "function": {"name": fn["name"], "arguments": json.dumps(args)}})
    return calls or None


def could_be_call(text: str) -> bool:
    """True while the answer so far may still turn into a tool call (held back from the stream)."""
    head = text.lstrip()
    return not head or any(head.startswith(m) or m.startswith(head) for m in _MARKERS)


class ToolCalls:
    """Turns a backend's chunks into an answer with tool calls when the model made some.

    Forced calls (``calls_forced``) are held whole: the grammar made them JSON. ``auto``: text is
    streamed as it comes until it can no longer start a call; an answer that may be one is held
    and, once ended, parsed. Chunks carry the calls as complete OpenAI objects on the last chunk.
    """

    def __init__(self, controls: OutputControls) -> None:
        self.forced = controls.calls_forced
        self.names = {t["function"]["name"] for t in controls.offered()}

    def run(self, chunks: Iterator[Any]) -> Iterator[Any]:
        from .base import ChatChunk

        held: list[Any] = []
        holding = True
        for chunk in chunks:
            if chunk.finish_reason is None:
                if holding:
                    held.append(chunk)
                    text = "".join(c.text for c in held)
                    if not self.forced and not could_be_call(text):
                        holding = False
                        yield from held
                        held = []
                    continue
                yield chunk
                continue
            text = "".join(c.text for c in held)
            calls = parse_tool_calls(text, self.names) if held else None
            if calls is None:
                yield from held
                yield chunk
                return
            logprobs = [e for c in held for e in (c.logprobs or [])] or None
            if chunk.stats is not None:
                chunk.stats.finish_reason = "tool_calls"
            yield ChatChunk(text="", tokens=sum(c.tokens for c in held), tool_calls=calls, logprobs=logprobs)
            yield ChatChunk(text="", tokens=0, finish_reason="tool_calls", stats=chunk.stats)
            return
