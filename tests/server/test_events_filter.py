"""The event stream's filter: ``?topics=jobs,system&kinds=download&job=<id>`` sends only what was asked for."""

from __future__ import annotations

import asyncio
import json
import urllib.parse

import pytest
from jupyter_server.utils import url_path_join

from tests.fixtures.models import make_random_file
from tests.server.conftest import API, assert_error
from tests.server.test_events import EventStream

REPOS = ("slow-org/first", "slow-org/second")
FILE = "model.safetensors"
SIZE = 1 << 20


@pytest.fixture
def two_slow_repos(fake_hub, tmp_path):
    """Two repos whose 1 MiB file is sent at 512 KiB/s: both downloads run for about two seconds."""
    for i, repo in enumerate(REPOS):
        data = make_random_file(tmp_path / f"blob{i}.bin", SIZE, seed=11 + i)
        fake_hub.add_repo(repo, {FILE: data, "config.json": b'{"model_type": "llama"}'},
                          pipeline_tag="text-generation", library_name="transformers")
        fake_hub.add_fault(f"{repo}/{FILE}", "throttle", bytes_per_s=512 * 1024, times=10**9)
    return REPOS


@pytest.fixture
def stream(http_server_client, jp_http_port, jp_base_url, jp_auth_header):
    """``await stream({"job": id})``: an event stream opened with that query."""
    streams: list[EventStream] = []

    async def open_stream(query: dict[str, str] | None = None) -> EventStream:
        reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
        path = url_path_join(jp_base_url, API, "events")
        if query:
            path += "?" + urllib.parse.urlencode(query)
        head = "".join(f"{k}: {v}\r\n" for k, v in jp_auth_header.items())
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{jp_http_port}\r\n"
                     f"Accept: text/event-stream\r\n{head}\r\n".encode())
        await writer.drain()
        s = EventStream(reader, writer)
        streams.append(s)
        while b"\r\n\r\n" not in s.buffer:
            s.buffer += await asyncio.wait_for(reader.read(65536), 10)
        s.headers, s.buffer = s.buffer.split(b"\r\n\r\n", 1)
        assert b" 200 " in s.headers.split(b"\r\n")[0], s.headers
        return s

    yield open_stream
    for s in streams:
        s.writer.close()


async def _collect(s: EventStream, stop, timeout: float = 60) -> list[tuple[str, dict]]:
    """Every event read until ``stop(name, data)`` holds (that one included)."""
    seen: list[tuple[str, dict]] = []

    def record(name: str, data) -> bool:
        seen.append((name, data))
        return stop(name, data)

    await s.until(record, timeout)
    return seen


def _finished(job_id: str):
    return lambda n, d: n == "job" and d["id"] == job_id and d["state"] in ("completed", "failed")


async def _start(api, repo: str) -> str:
    r = await api("POST", "downloads", body={"model": repo})
    assert r.code == 202, r
    return r.json["id"]


async def test_a_stream_following_one_job_gets_only_that_job(api, stream, two_slow_repos):
    # Given two downloads running at once
    first = await _start(api, REPOS[0])
    second = await _start(api, REPOS[1])
    # And a stream that follows only the second, and one that follows everything
    followed = await stream({"job": second})
    everything = await stream()
    # When both run to completion
    seen = await _collect(followed, _finished(second))
    completed: set[str] = set()

    def both_done(name: str, data) -> bool:
        if name == "job" and data["state"] == "completed":
            completed.add(data["id"])
        return {first, second} <= completed

    all_seen = await _collect(everything, both_done)
    # Then the followed stream carried the second job's events only, through to its completion
    assert seen[-1][1]["state"] == "completed", seen[-1]
    jobs = [d for n, d in seen if n == "job"]
    assert {d["id"] for d in jobs} == {second}
    assert len(jobs) >= 2  # progress while it ran, then the completion
    # While the unfiltered stream carried both
    assert {first, second} <= {d["id"] for n, d in all_seen if n == "job"}


async def test_a_stream_of_one_job_and_jobs_only_never_sends_anything_else(api, stream, two_slow_repos):
    first = await _start(api, REPOS[0])
    followed = await stream({"job": first, "topics": "jobs"})
    second = await _start(api, REPOS[1])
    seen = await _collect(followed, _finished(first))
    # Only job events (no system snapshots: topics=jobs), and only of the followed job
    assert {n for n, _ in seen} == {"job"}
    assert {d["id"] for _, d in seen} == {first}
    assert seen[-1][1]["state"] == "completed"
    # The other download ran meanwhile, unseen by this stream
    r = await poll_done(api, second)
    assert r["state"] == "completed"


async def poll_done(api, job_id: str) -> dict:
    from tests.server.conftest import poll

    return await poll(api, f"downloads/{job_id}", lambda j: j["state"] in ("completed", "failed"), timeout=60)


async def test_kinds_and_topics_filters(api, stream, two_slow_repos, engine_of):
    from model_studio.core.jobs import JobState

    # Given a stream of download jobs only, one of system snapshots only, and one of other kinds
    downloads = await stream({"kinds": "download", "topics": "jobs"})
    system = await stream({"topics": "system"})
    others = await stream({"kinds": "video,batch"})
    # When a download runs, and a job of another kind (training) is created and finished
    job_id = await _start(api, REPOS[0])
    other = engine_of.jobs.create("train", {"note": "not a download"}, title="not a download")
    engine_of.jobs.set_state(other.id, JobState.CANCELLED)
    seen = await _collect(downloads, _finished(job_id))
    # Then the download stream carried download jobs only, and no snapshots
    assert {n for n, _ in seen} == {"job"}
    assert {d["kind"] for _, d in seen} == {"download"}
    # The system stream carried snapshots and no jobs
    sys_seen = await _collect(system, lambda n, d: n == "system" and d["time"] > 0)
    sys_seen += await _collect(system, lambda n, d: n == "system")
    assert {n for n, _ in sys_seen} == {"system"}
    # A stream of other kinds saw neither the download nor the training job, only snapshots
    later = await _collect(others, lambda n, d: n == "system" and d["time"] > seen[-1][1]["updated_at"])
    assert {n for n, _ in later} == {"system"}, [d.get("id") for _, d in later]


async def test_training_is_an_alias_of_the_train_kind(stream, engine_of):
    from model_studio.core.jobs import JobState

    runs = await stream({"kinds": "training", "topics": "jobs"})
    job = engine_of.jobs.create("train", {"note": "x"}, title="a run")
    engine_of.jobs.set_state(job.id, JobState.CANCELLED)
    seen = await _collect(runs, lambda n, d: d["state"] == "cancelled")
    assert {d["id"] for _, d in seen} == {job.id}


@pytest.mark.parametrize(("query", "parameter"), [
    ({"topics": "jobs,weather"}, "topics"),
    ({"kinds": "download,cooking"}, "kinds"),
    ({"job": ",".join(f"dow-{i}" for i in range(51))}, "job"),
    ({"job": "../etc"}, "job"),
    ({"topics": "system", "kinds": "download"}, "topics"),
])
async def test_bad_filters_are_400_in_the_error_shape(api, query, parameter):
    r = await api("GET", "events", params=query)
    err = assert_error(r, 400, "ValidationError")
    assert err["details"]["parameter"] == parameter, err


def test_the_filter_is_documented_in_openapi():
    from model_studio.server._event_filter import KINDS, TOPICS
    from model_studio.server.handlers import OPENAPI_PATH

    doc = json.loads(OPENAPI_PATH.read_text())
    route = doc["paths"]["/events"]["get"]
    params = {p["name"]: p for p in route["parameters"]}
    assert set(params) == {"topics", "kinds", "job"}
    assert params["topics"]["schema"]["items"]["enum"] == list(TOPICS)
    assert params["kinds"]["schema"]["items"]["enum"] == list(KINDS)
    assert "400" in route["responses"]
