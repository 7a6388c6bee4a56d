"""REST: /model-studio/api/datasets upload, list, get, preview, stats and delete."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from tests.server.conftest import assert_error

SECRET = (Path(__file__).resolve().parents[2] / "notebooks" / "data" / "secret-word.jsonl").read_text()


async def test_upload_list_get_preview_delete(api):
    r = await api("POST", "datasets", body={"filename": "secret-word.jsonl", "content": SECRET})
    assert r.code == 201, r
    assert r.json["name"] == "secret-word" and r.json["shape"] == "chat" and r.json["rows"] == 12

    r = await api("GET", "datasets")
    assert r.code == 200 and [d["name"] for d in r.json["datasets"]] == ["secret-word"]
    r = await api("GET", "datasets/secret-word")
    assert r.code == 200 and r.json["format"] == "jsonl"

    r = await api("GET", "datasets/secret-word/preview", params={"rows": "2"})
    assert r.code == 200, r
    assert [row["row"] for row in r.json["rows"]] == [1, 2]
    assert r.json["rows"][0]["messages"][-1]["content"] == "The secret word is PINEAPPLE."

    r = await api("DELETE", "datasets/secret-word")
    assert r.code == 200 and r.json["deleted"] == "secret-word"
    assert (await api("GET", "datasets")).json["datasets"] == []
    assert_error(await api("GET", "datasets/secret-word"), 404, "NotFoundError")


async def test_upload_base64_with_mapping(api):
    rows = "".join(json.dumps({"q": f"question {i}", "a": f"answer {i}"}) + "\n" for i in range(3))
    r = await api("POST", "datasets", body={"filename": "qa.jsonl", "name": "qa",
                                            "content_base64": base64.b64encode(rows.encode()).decode(),
                                            "mapping": {"prompt": "q", "completion": "a"}})
    assert r.code == 201, r
    assert r.json["shape"] == "completion" and r.json["mapping"] == {"prompt": "q", "completion": "a"}


async def test_preview_through_the_tiny_llama_template(api, engine_of):
    await api("POST", "downloads", body={"model": "tiny-org/tiny-llama"})
    import asyncio

    for _ in range(600):
        jobs = (await api("GET", "downloads")).json["downloads"]
        if jobs and jobs[0]["state"] in ("completed", "failed"):
            break
        await asyncio.sleep(0.05)
    assert jobs[0]["state"] == "completed", jobs
    assert (await api("POST", "datasets", body={"filename": "s.jsonl", "content": SECRET})).code == 201
    r = await api("GET", "datasets/s/preview", params={"model": "tiny-org/tiny-llama", "rows": "1"})
    assert r.code == 200, r
    rendered = r.json["rows"][0]["rendered"]
    assert "PINEAPPLE" in rendered and rendered != "The secret word is PINEAPPLE."
    r = await api("GET", "datasets/s/stats", params={"model": "tiny-org/tiny-llama", "max_seq_length": "16"})
    assert r.code == 200, r
    assert r.json["rows"] == 12 and r.json["truncated_rows"] == 12


async def test_bad_uploads_are_4xx(api):
    err = assert_error(await api("POST", "datasets", body={"filename": "b.jsonl", "content": '{"text": "a"}\n{bad\n'}),
                       400, "ValidationError")
    assert err["details"]["row"] == 2 and err["message"].startswith("Row 2:")
    assert (await api("GET", "datasets")).json["datasets"] == []
    assert_error(await api("POST", "datasets", body={"filename": "b.jsonl"}), 400, "ValidationError")
    assert_error(await api("POST", "datasets", body={"content": "{}"}), 400, "ValidationError")
    assert_error(await api("POST", "datasets", body={"filename": "b.jsonl", "content_base64": "@@@"}), 400)
    assert_error(await api("POST", "datasets", body={"filename": "b.jsonl", "content": '{"text": "a"}\n',
                                                     "name": "../x"}), 400, "ValidationError")
    assert_error(await api("GET", "datasets/..%2Fx"), 400, "ValidationError")
    assert_error(await api("GET", "datasets/nope/preview", params={"rows": "0"}), 400)
    assert_error(await api("GET", "datasets/nope/stats"), 400, "ValidationError")
    big = "x" * (50 << 20)
    assert_error(await api("POST", "datasets", body={"filename": "big.jsonl", "content": big}), 400,
                 "ValidationError")
