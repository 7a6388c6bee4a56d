"""The event stream: job changes from this server and from other processes, system snapshots, keep-alives."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest
from jupyter_server.utils import url_path_join

from tests.server.conftest import API, REPO_ROOT

_EVENT = re.compile(rb"(?:event: (\w+)\n)?data: (.*)\n\n")


class EventStream:
    """A raw HTTP/1.1 connection to /events: what a browser's EventSource does, and closable."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buffer = b""
        self.headers = b""

    @classmethod
    async def open(cls, port: int, base_url: str, auth: dict[str, str]) -> EventStream:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        path = url_path_join(base_url, API, "events")
        head = "".join(f"{k}: {v}\r\n" for k, v in auth.items())
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n{head}\r\n".encode())
        await writer.drain()
        stream = cls(reader, writer)
        while b"\r\n\r\n" not in stream.buffer:
            stream.buffer += await asyncio.wait_for(reader.read(65536), 10)
        stream.headers, stream.buffer = stream.buffer.split(b"\r\n\r\n", 1)
        return stream

    async def until(self, predicate, timeout: float = 30.0) -> tuple[str, object]:
        """Read events until ``predicate(name, data)`` holds; returns that event."""
        deadline = time.monotonic() + timeout
        pos = 0
        while True:
            for m in _EVENT.finditer(self.buffer, pos):
                pos = m.end()
                name = (m.group(1) or b"message").decode()
                data = json.loads(m.group(2))
                if predicate(name, data):
                    self.buffer = self.buffer[pos:]
                    return name, data
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching event within {timeout} s; got {self.buffer[-2000:]!r}")
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), left)
            except asyncio.TimeoutError:
                continue
            if not chunk:
                raise AssertionError("the server closed the event stream")
            self.buffer += chunk

    async def read_for(self, seconds: float) -> bytes:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                self.buffer += await asyncio.wait_for(self.reader.read(65536), left)
            except asyncio.TimeoutError:
                break
        return self.buffer

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


@pytest.fixture
def events(http_server_client, jp_http_port, jp_base_url, jp_auth_header):
    streams: list[EventStream] = []

    async def open_stream() -> EventStream:
        stream = await EventStream.open(jp_http_port, jp_base_url, jp_auth_header)
        streams.append(stream)
        return stream

    yield open_stream
    for s in streams:
        s.writer.close()


def _is_job(job_id: str, states: tuple[str, ...]):
    return lambda name, data: name == "job" and data["id"] == job_id and data["state"] in states


async def test_stream_headers_and_a_rest_download_arrives_as_job_events(events, api):
    stream = await events()
    assert b" 200 " in stream.headers.split(b"\r\n")[0]
    assert b"text/event-stream" in stream.headers
    # When a download is started through REST
    r = await api("POST", "downloads", body={"model": "tiny-org/tiny-readme"})
    assert r.code == 202, r
    job_id = r.json["id"]
    # Then the stream reports the job, up to its completion
    _, job = await stream.until(_is_job(job_id, ("completed", "failed")))
    assert job["state"] == "completed", job
    assert job["kind"] == "download" and job["progress"]["done"] > 0


async def test_a_download_started_by_another_process_arrives_on_the_stream(events, studio_env):
    stream = await events()
    # Given a separate process sharing the studio home, cache and Hub
    script = textwrap.dedent("""
        from model_studio.core import Engine
        eng = Engine()
        job = eng.downloads.start("tiny-org/tiny-llama")
        print(job.id, flush=True)
        job.wait(60)
        eng.close()
    """)
    env = dict(os.environ, **studio_env, PYTHONPATH=str(REPO_ROOT))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, env=env,
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        job_id = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert job_id.startswith("dow-"), (job_id, await proc.stderr.read())
        # Then this server's stream reports that process's job, through to completion
        _, job = await stream.until(_is_job(job_id, ("completed",)))
        assert job["owner_pid"] == proc.pid
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_system_snapshots_arrive_every_interval(events):
    stream = await events()
    t0 = time.monotonic()
    _, first = await stream.until(lambda name, data: name == "system", 5)
    _, second = await stream.until(lambda name, data: name == "system", 5)
    assert first["memory_total"] > 0 and second["time"] > first["time"]
    assert time.monotonic() - t0 < 3  # system_interval is 0.3 s in these tests


@pytest.mark.parametrize("jp_server_config", [{
    "ServerApp": {"jpserver_extensions": {"model_studio": True}},
    "ModelStudioApp": {"system_interval": 0, "event_keepalive": 0.2}}])
async def test_keepalive_comments_when_nothing_happens(events):
    stream = await events()
    data = await stream.read_for(1.0)
    assert data.count(b": keep-alive\n\n") >= 2, data
    assert b"event: system" not in data


async def test_disconnect_unsubscribes_from_the_feed(events, engine_of):
    # Given two open streams
    first, second = await events(), await events()
    await first.until(lambda name, data: name == "system", 5)
    await second.until(lambda name, data: name == "system", 5)
    assert len(engine_of.feed._subscribers) == 2
    # When the clients go away, their subscriptions end
    await first.close()
    await second.close()
    deadline = time.monotonic() + 5
    while engine_of.feed._subscribers and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert engine_of.feed._subscribers == []


async def test_event_data_matches_the_documented_schemas(events, api):
    # Given the document's event stream: its media type and the schema of each event's data
    import jsonschema

    from model_studio.server.handlers import OPENAPI_PATH

    doc = json.loads(OPENAPI_PATH.read_text())
    content = doc["paths"]["/events"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"text/event-stream"}
    schemas = content["text/event-stream"]["x-events"]
    assert set(schemas) == {"job", "system"}

    def validate(name: str, data) -> None:
        jsonschema.Draft202012Validator({**schemas[name], "components": doc["components"]}).validate(data)

    stream = await events()
    # When a download runs, and the system snapshots arrive
    r = await api("POST", "downloads", body={"model": "tiny-org/tiny-readme"})
    assert r.code == 202, r
    _, job = await stream.until(_is_job(r.json["id"], ("completed", "failed")))
    _, system = await stream.until(lambda name, data: name == "system")
    # Then each event's data validates against its documented schema
    validate("job", job)
    validate("system", system)
    with pytest.raises(jsonschema.ValidationError):
        validate("job", {**job, "state": "exploded"})
