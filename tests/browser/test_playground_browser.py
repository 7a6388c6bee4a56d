"""The Chat panel as an OpenAI playground in a real JupyterLab: a fine-tuned run in the model picker,
the Tools editor (validation, an example, tool_choice), tool calls shown from streamed ``tool_calls``
deltas and answered with a ``tool`` message, JSON mode sent as ``response_format``, and "Copy as
code" giving ``openai`` client code that repeats the request.

``/model-studio/v1/chat/completions`` is answered by Playwright (``page.route``) with recorded
OpenAI Server-Sent Events, so the panel's wire format is what is tested, whatever the server's
model can do; everything else (the model list, conversations) is the real server.
Screenshots: artifacts/playground-tool-calls.png, playground-json-mode.png.
"""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import shot
from tests.browser.shell import open_from_sidebar
from tests.browser.shell import panel as panel_of
from tests.browser.test_studio_browser import open_lab, tid
from tests.fixtures.runs import write_finished_run

pytestmark = pytest.mark.slow

RUN = "run/tunedrun1"
#: Every request reaches ``page.route`` (a service worker would answer some itself).
BROWSER_CONTEXT = {"service_workers": "block"}
ARGS = '{"city": "Paris"}'


def sse(chunks: list[dict[str, Any]]) -> str:
    base = {"id": "chatcmpl-rec", "object": "chat.completion.chunk", "created": 1, "model": RUN}
    return "".join(f"data: {json.dumps({**base, **c})}\n\n" for c in chunks) + "data: [DONE]\n\n"


def delta(d: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


#: Two parallel calls as OpenAI streams them: ids and names first, arguments in pieces, by index.
TOOL_CALL_STREAM = sse([
    delta({"role": "assistant", "content": None, "tool_calls": [
        {"index": 0, "id": "call_w", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
    delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
    delta({"tool_calls": [
        {"index": 1, "id": "call_c", "type": "function", "function": {"name": "calculator", "arguments": ""}}]}),
    delta({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
    delta({"tool_calls": [{"index": 1, "function": {"arguments": '{"expression": "2*3"}'}}]}),
    delta({}, "tool_calls"),
    {"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32}},
])
ANSWER_STREAM = sse([delta({"role": "assistant", "content": "It is 21 degrees"}), delta({"content": "."}),
                     delta({}, "stop")])


class FakeV1:
    """Answers the panel's chat completions with recorded streams, keeping each request body."""

    def __init__(self, page, replies: list[str]) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.replies = replies
        page.route(lambda url: "/model-studio/v1/chat/completions" in url, self.handle)

    def handle(self, route) -> None:
        self.bodies.append(route.request.post_data_json)
        reply = self.replies[min(len(self.bodies), len(self.replies)) - 1]
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
                      body=reply)


def open_chat_on_run(page, lab) -> str:
    """The Chat panel with the fine-tuned run picked (it is listed because it finished)."""
    open_lab(page, lab)
    panel = f"{open_from_sidebar(page, 'chat')} {tid('chat-panel')}"
    option = f"{panel} {tid('chat-model')} option[value='{RUN}']"
    page.wait_for_selector(option, state="attached", timeout=30_000)
    assert "fine-tuned tiny-base" in page.inner_text(option)
    page.select_option(f"{panel} {tid('chat-model')}", RUN)
    page.click(f"{panel} {tid('chat-clear')}")  # a new conversation, whatever the lab restored
    page.click(f"{panel} {tid('chat-tools-settings')} summary")
    return panel


def saved_messages(lab, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    listed: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        listed = lab.api("GET", "/conversations").json()["conversations"]
        if listed and listed[0]["message_count"] >= count:
            return lab.api("GET", f"/conversations/{listed[0]['id']}").json()["lanes"][0]["messages"]
        time.sleep(0.2)
    raise AssertionError(f"the conversation never held {count} messages: {listed}")


def create_call_keywords(code: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keywords of ``OpenAI(...)`` and of ``client.chat.completions.create(...)``, as Python values."""
    tree = ast.parse(code)  # valid Python, or this raises
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]

    def named(name: str) -> dict[str, Any]:
        call = next(c for c in calls if (c.func.attr if isinstance(c.func, ast.Attribute) else
                                         getattr(c.func, "id", None)) == name)
        return {k.arg: (ast.literal_eval(k.value) if k.arg != "api_key" else ast.unparse(k.value))
                for k in call.keywords}

    return named("OpenAI"), named("create")


@pytest.fixture(scope="module")
def finished_run(lab) -> Path:
    return write_finished_run(Path(lab.env["MODEL_STUDIO_HOME"]), RUN.split("/")[1])


def test_tool_calls_stream_are_answered_saved_restored_and_copied_as_code(page, lab, finished_run):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    fake = FakeV1(page, [TOOL_CALL_STREAM, ANSWER_STREAM])
    panel = open_chat_on_run(page, lab)

    # Given tools that are not OpenAI tool objects: the editor says which field, and nothing is sent
    page.fill(f"{panel} {tid('chat-tools')}", '[{"type": "function", "function": {"name": "bad name"}}]')
    status = f"{panel} {tid('chat-tools-status')}"
    assert page.get_attribute(status, "data-valid") == "false"
    assert "tools[0].function.name" in page.inner_text(status)
    page.fill(f"{panel} {tid('chat-input')}", "Weather in Paris, and 2*3?")
    page.click(f"{panel} {tid('chat-send')}")
    page.wait_for_selector(f"{panel} {tid('chat-error')}", timeout=10_000)
    assert "tools[0].function.name" in page.inner_text(f"{panel} {tid('chat-error')}")
    assert fake.bodies == []
    page.fill(f"{panel} {tid('chat-tools')}", "not json")
    assert "not valid JSON" in page.inner_text(status)

    # When the two examples are inserted and tool_choice is "required"
    page.fill(f"{panel} {tid('chat-tools')}", "")
    page.click(f"{panel} {tid('chat-tool-example-get_weather')}")
    page.click(f"{panel} {tid('chat-tool-example-calculator')}")
    assert page.inner_text(status) == "2 valid tools"
    page.select_option(f"{panel} {tid('chat-tool-choice')}", "required")
    page.click(f"{panel} {tid('chat-send')}")

    # Then the request carries them as OpenAI has them
    calls = f"{panel} {tid('chat-tool-call')}"
    page.wait_for_function("([sel]) => document.querySelectorAll(sel).length === 2", arg=[calls], timeout=30_000)
    first = fake.bodies[0]
    assert first["model"] == RUN and first["stream"] is True and first["tool_choice"] == "required"
    assert [t["function"]["name"] for t in first["tools"]] == ["get_weather", "calculator"]
    assert first["tools"][0]["function"]["parameters"]["required"] == ["city"]
    assert first["messages"] == [{"role": "user", "content": "Weather in Paris, and 2*3?"}]
    # And both calls show their names and the arguments assembled from the deltas, by index
    names = page.locator(f"{calls} {tid('chat-tool-call-name')}").all_inner_texts()
    assert names == ["get_weather", "calculator"]
    args = page.locator(f"{calls} {tid('chat-tool-call-arguments')}").all_inner_texts()
    assert json.loads(args[0]) == {"city": "Paris"} and json.loads(args[1]) == {"expression": "2*3"}

    # When the user gives both results and sends them
    boxes = page.locator(f"{panel} {tid('chat-tool-result')}")
    assert page.is_disabled(f"{panel} {tid('chat-tool-send')}")
    boxes.nth(0).fill('{"temp_c": 21}')
    boxes.nth(1).fill("6")
    page.click(f"{panel} {tid('chat-tool-send')}")
    page.wait_for_function("([sel]) => document.querySelectorAll(sel).length >= 2",
                           arg=[f"{panel} {tid('chat-stats')}"], timeout=30_000)

    # Then the follow-up request carries the assistant's calls and one tool message per call
    tool_turn = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_w", "type": "function", "function": {"name": "get_weather", "arguments": ARGS}},
        {"id": "call_c", "type": "function", "function": {"name": "calculator", "arguments": '{"expression": "2*3"}'}}]}
    expected = [{"role": "user", "content": "Weather in Paris, and 2*3?"}, tool_turn,
                {"role": "tool", "tool_call_id": "call_w", "content": '{"temp_c": 21}'},
                {"role": "tool", "tool_call_id": "call_c", "content": "6"}]
    assert len(fake.bodies) == 2 and fake.bodies[1]["messages"] == expected
    assert fake.bodies[1]["tools"] == first["tools"]
    assert "It is 21 degrees." in page.inner_text(f"{panel} {tid('chat-messages')}")
    assert page.locator(f"{panel} {tid('chat-tool-message')}").count() == 2
    shot(page, "playground-tool-calls")

    # And the conversation stored the calls and the results
    stored = saved_messages(lab, 5)
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "tool", "assistant"]
    assert stored[1]["tool_calls"] == tool_turn["tool_calls"] and stored[1]["finish_reason"] == "tool_calls"
    assert [m["tool_call_id"] for m in stored[2:4]] == ["call_w", "call_c"]

    # When "Copy as code" is clicked
    page.click(f"{panel} {tid('chat-export-code')}")
    page.wait_for_selector(f"{panel} {tid('chat-code')}", timeout=10_000)
    code = page.inner_text(f"{panel} {tid('chat-code')}")
    # Then it is the openai client call repeating the request (up to the last answer), on the clipboard too
    client, create = create_call_keywords(code)
    assert client["base_url"] == f"{lab.url}/model-studio/v1"
    assert create["model"] == RUN and create["messages"] == expected
    assert create["tools"] == first["tools"] and create["tool_choice"] == "required"
    assert create["temperature"] == first["temperature"] and create["max_tokens"] == first["max_tokens"]
    assert create["extra_body"] == {"top_k": first["top_k"], "repeat_penalty": first["repeat_penalty"]}
    assert page.evaluate("navigator.clipboard.readText()") == code

    # When the page is reloaded, the restored conversation shows the calls and the results again
    page.reload()
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    page.evaluate("async () => { await window.jupyterapp.restored; }")
    panel = f"{panel_of('chat')} {tid('chat-panel')}"
    page.wait_for_selector(f"{panel} {tid('chat-tool-message')}", timeout=30_000)
    assert page.locator(f"{panel} {tid('chat-tool-call-name')}").all_inner_texts() == ["get_weather", "calculator"]
    assert page.locator(f"{panel} {tid('chat-tool-message')}").count() == 2
    assert page.locator(f"{panel} {tid('chat-tool-result')}").count() == 0  # answered: no result boxes
    assert not page.errors, page.errors


def test_json_mode_sends_response_format(page, lab, finished_run):
    fake = FakeV1(page, [sse([delta({"role": "assistant", "content": '{"answer": "x", "confidence": 1}'}),
                              delta({}, "stop")])])
    panel = open_chat_on_run(page, lab)
    page.click(f"{panel} {tid('chat-tool-example-get_weather')}")
    page.fill(f"{panel} {tid('chat-tools')}", "")  # no tools: none sent

    def ask(n: int) -> dict[str, Any]:
        page.fill(f"{panel} {tid('chat-input')}", f"Question {n}")
        page.click(f"{panel} {tid('chat-send')}")
        page.wait_for_function("([sel, n]) => document.querySelectorAll(sel).length >= n",
                               arg=[f"{panel} {tid('chat-stats')}", n], timeout=30_000)
        return fake.bodies[n - 1]

    # Off: no response_format
    body = ask(1)
    assert "response_format" not in body and "tools" not in body and "tool_choice" not in body
    # json_object
    page.select_option(f"{panel} {tid('chat-json-mode')}", "json_object")
    assert ask(2)["response_format"] == {"type": "json_object"}
    # json_schema: a schema that is not JSON is refused in the box and nothing is sent
    page.select_option(f"{panel} {tid('chat-json-mode')}", "json_schema")
    page.fill(f"{panel} {tid('chat-schema')}", '{"type": "object",')
    assert page.get_attribute(f"{panel} {tid('chat-schema-status')}", "data-valid") == "false"
    page.fill(f"{panel} {tid('chat-input')}", "Question 3")
    page.click(f"{panel} {tid('chat-send')}")
    page.wait_for_selector(f"{panel} {tid('chat-error')}", timeout=10_000)
    assert "not valid JSON" in page.inner_text(f"{panel} {tid('chat-error')}") and len(fake.bodies) == 2
    # A valid schema goes as OpenAI's json_schema, strict, with its name
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    page.fill(f"{panel} {tid('chat-schema')}", json.dumps(schema))
    page.fill(f"{panel} {tid('chat-schema-name')}", "city_answer")
    assert page.get_attribute(f"{panel} {tid('chat-schema-status')}", "data-valid") == "true"
    assert ask(3)["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "city_answer", "schema": schema, "strict": True}}
    shot(page, "playground-json-mode")
    # And copy as code repeats it
    page.click(f"{panel} {tid('chat-export-code')}")
    _, create = create_call_keywords(page.inner_text(f"{panel} {tid('chat-code')}"))
    assert create["response_format"]["json_schema"]["schema"] == schema
    assert create["messages"][-1] == {"role": "user", "content": "Question 3"}
    assert not page.errors, page.errors
