"""Tools, structured output and logprobs in ``engine.chat``: the request reading and answer parsing
(``core.chat.structured``), and the transformers backend on the tiny random Llama (its answers are
nonsense, so only a grammar-constrained answer can be asserted valid, which is the point)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from model_studio.config import Settings
from model_studio.core import Engine
from model_studio.core.chat.structured import (
    MAX_PARALLEL_TOOL_CALLS,
    OutputControls,
    calls_schema,
    checked_messages,
    could_be_call,
    fallback_messages,
    parse_tool_calls,
)
from model_studio.errors import ValidationError

SCHEMA = {"type": "object", "properties": {"unit": {"enum": ["c", "f"]}, "days": {"type": "boolean"}},
          "required": ["unit", "days"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}},
         {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}]
# The fixture's ChatML template plus a tools block: a template with tool syntax
TOOL_TEMPLATE = ("{% if tools %}<|im_start|>system\nTools: {% for t in tools %}{{ t.function.name }} {% endfor %}"
                 "<|im_end|>\n{% endif %}{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
                 "message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
                 "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


# --- reading the request ---------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"tools": {"a": 1}}, "tools"),
    ({"tools": [{"type": "function", "function": {"name": "x y"}}]}, "tools[0].function.name"),
    ({"tools": TOOLS + TOOLS[:1]}, "tools[2].function.name"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
    ({"tools": TOOLS, "tool_choice": "required", "response_format": {"type": "json_object"}}, "response_format"),
    ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
    ({"logprobs": "yes"}, "logprobs"),
    ({"top_logprobs": 2}, "top_logprobs"),
])
def test_bad_fields_name_the_parameter(kwargs, param):
    with pytest.raises(ValidationError) as err:
        OutputControls.checked(**kwargs)
    assert err.value.details["param"] == param


def test_forced_calls_decode_to_an_array_of_named_calls_that_follow_each_schema():
    required = OutputControls.checked(tools=TOOLS, tool_choice="required").decoding_schema()
    assert required == calls_schema(TOOLS, MAX_PARALLEL_TOOL_CALLS)
    good = [{"name": "get_weather", "arguments": {"unit": "c", "days": True}}, {"name": "get_time", "arguments": {}}]
    jsonschema.validate(good, required)
    for bad in ([], [{"name": "get_weather", "arguments": {"unit": "k", "days": True}}],
                [{"name": "get_weather", "arguments": {"unit": "c", "days": True, "extra": 1}}],
                [{"name": "other", "arguments": {}}]):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, required)
    named = OutputControls.checked(tools=TOOLS, tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert named.decoding_schema()["maxItems"] == 1 and named.offered() == TOOLS[1:]
    assert OutputControls.checked(tools=TOOLS).decoding_schema() is None  # auto: free text
    assert OutputControls.checked(response_format={"type": "json_object"}).decoding_schema() == {"type": "object"}


@pytest.mark.parametrize("text", [
    '[{"name": "get_weather", "arguments": {"unit": "c", "days": false}}]',
    '<tool_call>\n{"name": "get_weather", "arguments": {"unit": "c", "days": false}}\n</tool_call>',
    '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"unit": "c", "days": false}}]',
    '{"name": "get_weather", "parameters": {"unit": "c", "days": false}}',
])
def test_tool_calls_are_read_in_each_known_syntax(text):
    calls = parse_tool_calls(text, {"get_weather"})
    assert calls is not None and len(calls) == 1
    assert calls[0]["function"] == {"name": "get_weather", "arguments": '{"unit": "c", "days": false}'}
    assert calls[0]["id"].startswith("call_") and calls[0]["type"] == "function"


def test_text_is_not_a_tool_call():
    assert parse_tool_calls("It is sunny.", {"get_weather"}) is None
    assert parse_tool_calls('{"name": "unknown", "arguments": {}}', {"get_weather"}) is None
    assert parse_tool_calls('[{"name": "get_weather", "arguments": ', {"get_weather"}) is None
    assert could_be_call("  <tool") and could_be_call('{"na') and not could_be_call("Sunny")


def test_the_json_fallback_renders_the_tool_history_as_text():
    history = checked_messages([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": '{"unit": "c"}'}}]},
        {"role": "tool", "tool_call_id": "call_9", "content": "sunny"}])
    out = fallback_messages(history, TOOLS[:1])
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert out[0]["content"].startswith("Be brief.") and '"get_weather"' in out[0]["content"]
    assert json.loads(out[2]["content"]) == [{"name": "get_weather", "arguments": {"unit": "c"}}]
    assert out[3]["content"] == "Result of get_weather (call call_9): sunny"
    with pytest.raises(ValidationError):
        checked_messages([{"role": "tool", "content": "x"}])  # no tool_call_id


# --- the transformers backend on the tiny Llama ------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, tiny_model_cache: Path) -> Iterator[Engine]:
    pytest.importorskip("transformers")
    pytest.importorskip("llguidance")
    from tests.fixtures.models import _build_cache

    root = tmp_path_factory.mktemp("structured")
    shutil.copytree(_build_cache(tiny_model_cache)["llama"], root / "models" / "tiny-chat")
    with Engine(Settings(home=str(root / "home"), hf_cache=str(root / "hub"),
                         extra_model_dirs=[str(root / "models")], offline=True,
                         model_host="in_process")) as eng:
        yield eng


@pytest.mark.slow
def test_transformers_json_schema_answer_validates_and_reports_logprobs(tiny):
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}, "colour": {"enum": ["red", "green"]}},
              "required": ["ok", "colour"]}
    out = tiny.chat.complete("local/tiny-chat", [{"role": "user", "content": "hi"}], temperature=0.9, seed=3,
                             max_tokens=60, logprobs=True, top_logprobs=2,
                             response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema,
                                                                                     "strict": True}})
    # Then a random model's answer is valid JSON that follows the schema
    assert out["finish_reason"] == "stop"
    value = json.loads(out["text"])
    jsonschema.validate(value, schema)
    assert set(value) == {"ok", "colour"}
    # And each token of it carries a log probability and two alternatives
    assert "".join(e["token"] for e in out["logprobs"]) == out["text"]
    assert all(e["logprob"] <= 0 and len(e["top_logprobs"]) == 2 for e in out["logprobs"])


@pytest.mark.slow
def test_transformers_renders_tools_with_the_template_and_forces_a_valid_call(tiny):
    model = tiny.chat.load("local/tiny-chat", chat_template=TOOL_TEMPLATE)
    messages = [{"role": "user", "content": "hi"}]
    # Given a template that renders tools: the prompt holds them
    assert model.tool_syntax()
    assert "Tools: get_weather get_time" in model.tokenizer.decode(model._encode(messages, TOOLS)["input_ids"][0])
    assert model.count_tokens(messages, tools=TOOLS) > model.count_tokens(messages)
    # When a call is forced
    stream = tiny.chat.stream(model, messages, tools=TOOLS, tool_choice={"type": "function",
                                                                         "function": {"name": "get_weather"}},
                              temperature=0.9, seed=1, max_tokens=60)
    chunks = list(stream)
    # Then the answer is that call, with arguments that follow its schema, made through the template
    calls = [c for chunk in chunks for c in (chunk.tool_calls or [])]
    assert stream.tool_format == "template" and stream.finish_reason == "tool_calls"
    assert len(calls) == 1 and calls[0]["function"]["name"] == "get_weather"
    jsonschema.validate(json.loads(calls[0]["function"]["arguments"]), SCHEMA)
