"""Tools, structured output and logprobs through the model host: ``engine.chat`` in host mode sends
OpenAI's fields to the host's ``/v1`` and reads the streamed tool calls and logprobs back, with the
same result as in process."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.host.conftest import LOAD, STARTER

pytestmark = pytest.mark.slow

ARGS = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30}}, "required": ["city"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": ARGS}}]


def test_a_forced_tool_call_and_logprobs_come_back_from_the_host(eng):
    # When a kernel's engine (host mode) forces a tool call and asks for logprobs
    out = eng.chat.complete(STARTER, [{"role": "user", "content": "Weather in Paris?"}], tools=TOOLS,
                            tool_choice={"type": "function", "function": {"name": "get_weather"}},
                            temperature=0, max_tokens=40, logprobs=True, load_options=LOAD)
    # Then the host answered with one call whose arguments follow the schema, made through the json fallback
    assert out["finish_reason"] == "tool_calls" and out["tool_format"] == "json"
    assert [c["function"]["name"] for c in out["tool_calls"]] == ["get_weather"]
    jsonschema.validate(json.loads(out["tool_calls"][0]["function"]["arguments"]), ARGS)
    assert out["tool_calls"][0]["id"].startswith("call_")
    # And the answer's tokens came back with their log probabilities
    assert out["logprobs"] and all(e["logprob"] <= 0 for e in out["logprobs"])
    assert eng.host.enabled and eng.chat.loaded()[0]["model"].startswith(STARTER)
