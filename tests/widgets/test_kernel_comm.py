"""The widget protocol through a real kernel: comm messages in, replies and events out."""

from __future__ import annotations

import time

import pytest

GGUF = "tiny-org/tiny-llama-GGUF"


@pytest.fixture
def kernel(fake_hub, monkeypatch):
    from jupyter_client.manager import start_new_kernel

    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)  # the kernel inherits the isolated environment
    km, kc = start_new_kernel(kernel_name="python3")
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def comm_messages(kc, until, timeout: float = 30.0) -> list[dict]:
    """Custom widget messages the kernel sends, until ``until(messages)`` holds."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=0.5)
        except Exception:
            continue
        if msg["msg_type"] == "comm_msg" and msg["content"]["data"].get("method") == "custom":
            seen.append(msg["content"]["data"]["content"])
            if until(seen):
                return seen
    raise AssertionError(f"kernel did not send the expected messages; got {seen!r}")


@pytest.mark.slow
def test_call_reply_and_events_cross_a_real_comm(kernel):
    reply = kernel.execute_interactive("import model_studio as ms\nw = ms.Studio(interval=0.3)", timeout=60,
                                       user_expressions={"comm_id": "w.comm.comm_id"})
    comm_id = reply["content"]["user_expressions"]["comm_id"]["data"]["text/plain"].strip("'")

    # Given a system event already flowed from the kernel's timer thread,
    comm_messages(kernel, lambda seen: any(m.get("type") == "system" for m in seen))

    # when the front end asks for a download through the comm,
    content = {"id": "r1", "kind": "call", "method": "downloads.start",
               "params": {"model": GGUF, "quantization": "Q8_0"}}
    msg = kernel.session.msg("comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": content}})
    kernel.shell_channel.send(msg)

    # then the reply and job events up to completion arrive over the same comm.
    seen = comm_messages(kernel, lambda seen: any(
        m.get("type") == "job" and m["data"]["state"] == "completed" for m in seen), timeout=60)
    results = [m for m in seen if m.get("id") == "r1"]
    assert results and results[0]["kind"] == "result" and results[0]["result"]["kind"] == "download"
