"""Tools, structured output, logprobs, n and seed on ``/model-studio/v1``, driven by real clients
(the official ``openai`` SDK, ``langchain-openai``, ``instructor``) against a real server chatting
with the starter model SmolLM2-135M-Instruct through llama.cpp.

A 135M model is weak, so every test that needs a tool call forces it (``tool_choice`` required or
named) and every structured answer is grammar-constrained: the outcome is then guaranteed to
parse and validate, and that is what is asserted (parsed objects, JSON arguments that follow the
schema), never the words. The starter's ChatML template has no tool syntax, so the answers say
``tool_format: "json"`` (the documented fallback).
"""

from __future__ import annotations

import asyncio
import json
from typing import Literal

import jsonschema
import pytest
from pydantic import BaseModel, Field

from tests.server import test_openai as _openai
from tests.server.test_openai import STARTER, chat, user

openai = pytest.importorskip("openai")
pytestmark = pytest.mark.slow
# test_openai's fixtures: the server with the starter model visible, its URL, token and SDK client
starter, jp_server_config, base_url, token, client = (_openai.starter, _openai.jp_server_config, _openai.base_url,
                                                      _openai.token, _openai.client)

WEATHER = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40},
                                            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
           "required": ["city", "unit"], "additionalProperties": False}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
                                           "parameters": WEATHER}}]
QUESTION = user("What is the weather in Paris?")


class Pet(BaseModel):
    kind: Literal["cat", "dog"]
    age: int = Field(ge=0, le=30)
    vaccinated: bool


def get_weather(city: str, unit: Literal["celsius", "fahrenheit"]) -> str:
    """The weather in a city."""
    return f"18 degrees {unit} in {city}"


def _calls_follow_the_schema(calls) -> None:
    assert calls, "no tool call"
    for call in calls:
        assert call.type == "function" and call.id.startswith("call_")
        assert call.function.name == "get_weather"
        jsonschema.validate(json.loads(call.function.arguments), WEATHER)


# --- the official openai SDK ----------------------------------------------------------------------


async def test_tool_call_round_trip_with_the_openai_sdk(client, starter):
    # Given a tool the model must call
    choice = {"type": "function", "function": {"name": "get_weather"}}
    # When the client asks
    first = await chat(client, model=STARTER, messages=QUESTION, tools=TOOLS, tool_choice=choice,
                       temperature=0, max_tokens=60)
    # Then the answer is one tool call whose arguments follow the function's schema
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert message.content is None and len(message.tool_calls) == 1
    _calls_follow_the_schema(message.tool_calls)
    assert first.model_extra["model_studio"]["tool_format"] == "json"  # SmolLM2's template has no tool syntax
    assert first.usage.completion_tokens > 0
    # When the client runs the tool and sends its result back
    call = message.tool_calls[0]
    result = get_weather(**json.loads(call.function.arguments))
    history = [*QUESTION, message.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": call.id, "content": result}]
    second = await chat(client, model=STARTER, messages=history, tools=TOOLS, tool_choice="none",
                        temperature=0, max_tokens=12)
    # Then the model answers in words
    assert second.choices[0].message.tool_calls is None
    assert second.choices[0].message.content and second.choices[0].finish_reason in ("stop", "length")
    assert second.usage.prompt_tokens > first.usage.prompt_tokens - 60  # the tool result was in the prompt


async def test_json_schema_output_is_parsed_by_pydantic(client, starter):
    # When the SDK asks for a Pet (response_format json_schema, strict)
    def parse():
        return client.chat.completions.parse(model=STARTER, messages=user("Describe a pet as JSON."),
                                             response_format=Pet, temperature=0, max_tokens=60)

    completion = await asyncio.to_thread(parse)
    # Then the answer parses into a valid Pet
    pet = completion.choices[0].message.parsed
    assert isinstance(pet, Pet) and pet.kind in ("cat", "dog") and 0 <= pet.age <= 30
    assert Pet.model_validate_json(completion.choices[0].message.content) == pet


async def test_json_object_mode_answers_a_json_object(client, starter):
    answer = await chat(client, model=STARTER, messages=user("Give me a JSON object about Paris."),
                        response_format={"type": "json_object"}, temperature=0, max_tokens=80)
    if answer.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(answer.choices[0].message.content), dict)
    else:  # cut by max_tokens: still the start of an object
        assert answer.choices[0].message.content.lstrip().startswith("{")


async def test_streamed_tool_calls_use_openais_delta_shape_and_usage(client, starter):
    # When a forced tool call is streamed with usage
    chunks = await chat(client, model=STARTER, messages=QUESTION, tools=TOOLS, tool_choice="required",
                        parallel_tool_calls=False, temperature=0, max_tokens=60, stream=True,
                        stream_options={"include_usage": True})
    # Then the call arrives as OpenAI streams it: id, type and name first, then the arguments
    deltas = [d for c in chunks if c.choices for d in (c.choices[0].delta.tool_calls or [])]
    head = deltas[0]
    assert head.index == 0 and head.id.startswith("call_") and head.type == "function"
    assert head.function.name == "get_weather" and head.function.arguments == ""
    arguments = "".join(d.function.arguments or "" for d in deltas)
    jsonschema.validate(json.loads(arguments), WEATHER)
    assert {d.index for d in deltas} == {0}  # parallel_tool_calls=False: one call
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert reasons == ["tool_calls"]
    # And the last chunk carries the usage
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + chunks[-1].usage.completion_tokens


async def test_logprobs_n_and_seed(client, starter):
    # When two sampled answers with their log probabilities are asked for, with a seed
    request = dict(model=STARTER, messages=user("Name a colour."), n=2, seed=7, temperature=1.0, max_tokens=5,
                   logprobs=True, top_logprobs=3)
    first = await chat(client, **request)
    # Then there are two answers, each token with its log probability and three alternatives
    assert [c.index for c in first.choices] == [0, 1]
    for c in first.choices:
        entries = c.logprobs.content
        assert entries and "".join(e.token for e in entries) == c.message.content
        for e in entries:
            assert e.logprob <= 0 and len(e.top_logprobs) == 3
            ranked = [t.logprob for t in e.top_logprobs]
            assert ranked == sorted(ranked, reverse=True) and e.logprob <= ranked[0] + 1e-6
    assert first.usage.completion_tokens == sum(len(c.logprobs.content) for c in first.choices)
    # And the same seed gives the same answers again (streamed this time)
    again = await chat(client, **request)
    assert [c.message.content for c in again.choices] == [c.message.content for c in first.choices]
    chunks = await chat(client, **request, stream=True)
    streamed = ["".join(c.choices[0].delta.content or "" for c in chunks if c.choices and c.choices[0].index == i)
                for i in (0, 1)]
    assert streamed == [c.message.content for c in first.choices]


# --- langchain-openai and instructor ----------------------------------------------------------------


async def test_langchain_bind_tools_and_with_structured_output(base_url, token, starter):
    langchain_openai = pytest.importorskip("langchain_openai")
    llm = langchain_openai.ChatOpenAI(base_url=base_url, api_key=token, model=STARTER, temperature=0,
                                      max_tokens=60, max_retries=0, timeout=600)
    # When LangChain binds a tool and forces it
    message = await asyncio.to_thread(llm.bind_tools([get_weather], tool_choice="get_weather").invoke,
                                      "What is the weather in Paris?")
    # Then it parsed a tool call with arguments that follow the function's signature
    assert len(message.tool_calls) == 1 and message.tool_calls[0]["name"] == "get_weather"
    args = message.tool_calls[0]["args"]
    assert isinstance(args["city"], str) and args["unit"] in ("celsius", "fahrenheit")
    # When it asks for structured output
    pet = await asyncio.to_thread(llm.with_structured_output(Pet).invoke, "Describe a pet.")
    # Then it gets a valid Pet
    assert isinstance(pet, Pet) and 0 <= pet.age <= 30


async def test_instructor_extracts_a_pydantic_object(client, starter):
    instructor = pytest.importorskip("instructor")
    patched = instructor.from_openai(client, mode=instructor.Mode.TOOLS)

    def extract():
        return patched.chat.completions.create(model=STARTER, response_model=Pet, max_retries=0, temperature=0,
                                               max_tokens=60, messages=user("My dog is 3 and vaccinated."))

    pet = await asyncio.to_thread(extract)
    assert isinstance(pet, Pet) and pet.kind in ("cat", "dog") and isinstance(pet.vaccinated, bool)
