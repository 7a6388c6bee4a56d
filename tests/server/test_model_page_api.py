"""``GET /models/{model}/page`` over REST: the card's eval results, files with sha256 and local
flags after a download, verify, the gated repo, a Hub that goes down, and an unknown model."""

from __future__ import annotations

import hashlib

import pytest

from tests.engine.test_hub_down import closed_port_url
from tests.fixtures.cards import CARD_EVAL_RESULTS, CARD_REPO, GATED_REPO, publish_card_repos
from tests.server.conftest import assert_error, poll


@pytest.fixture
def card_repos(fake_hub):
    return publish_card_repos(fake_hub)


async def test_page_route_serves_card_metadata_files_and_revisions(api, fake_hub, card_repos):
    r = await api("GET", f"models/{CARD_REPO}/page")
    assert r.code == 200, r
    page = r.json
    assert "# Tiny Card Model" in page["card"]
    got = [(e["task_type"], e["dataset_type"], e["metric_type"], e["metric_value"])
           for e in page["metadata"]["eval_results"]]
    assert got == CARD_EVAL_RESULTS
    assert page["metadata"]["datasets"] == ["tiny-org/tiny-corpus", "tiny-org/tiny-chat"]
    assert page["metadata"]["base_model"] == ["tiny-org/tiny-llama"]
    published = fake_hub.repo_files(CARD_REPO)
    files = {f["path"]: f for f in page["files"]}
    for path, entry in published.items():
        if entry.is_lfs:
            assert files[path]["sha256"] == hashlib.sha256(entry.disk_path.read_bytes()).hexdigest()
    assert [b["name"] for b in page["revisions"]["branches"]] == ["main"]
    assert [t["name"] for t in page["revisions"]["tags"]] == ["v1.0"]
    assert len(page["revisions"]["commits"]) == 2
    assert page["hub_error"] is None and page["gating"]["gated"] is False


async def test_download_then_page_shows_local_files_and_verify_passes(api, fake_hub, card_repos):
    r = await api("POST", "downloads", body={"model": CARD_REPO, "quantization": "Q8_0"})
    assert r.code == 202, r
    await poll(api, f"downloads/{r.json['id']}", lambda j: j["state"] == "completed")
    page = (await api("GET", f"models/{CARD_REPO}/page")).json
    local = sorted(f["path"] for f in page["files"] if f["local"])
    assert local == [p for p in sorted(fake_hub.repo_files(CARD_REPO)) if "Q8_0" in p]
    assert page["capabilities"]["verify"] and page["capabilities"]["delete"]
    verify = await api("POST", f"models/{CARD_REPO}/verify")
    assert verify.code == 200 and verify.json["ok"] is True and verify.json["checked"] == 1, verify
    # The same as a job: 202, then the job's progress counts the file and its bytes, and its result is the verdict
    started = await api("POST", f"models/{CARD_REPO}/verify/start")
    assert started.code == 202 and started.json["kind"] == "verify", started
    job = await poll(api, f"jobs/{started.json['id']}", lambda j: j["state"] == "completed")
    assert job["result"]["ok"] is True and job["result"]["checked"] == 1
    q8 = next(e for p, e in fake_hub.repo_files(CARD_REPO).items() if "Q8_0" in p)
    assert job["progress"]["detail"]["files_total"] == 1 and job["progress"]["done"] == q8.disk_path.stat().st_size


async def test_gated_page_names_the_terms_page(api, card_repos):
    page = (await api("GET", f"models/{GATED_REPO}/page")).json
    assert page["gating"] == {"gated": "manual", "access": False, "terms_url": f"https://huggingface.co/{GATED_REPO}"}


async def test_hub_down_still_serves_the_local_part(api, engine_of, fake_hub, card_repos):
    r = await api("POST", "downloads", body={"model": CARD_REPO, "quantization": "Q8_0"})
    await poll(api, f"downloads/{r.json['id']}", lambda j: j["state"] == "completed")
    engine_of.settings.hf_endpoint = closed_port_url()
    engine_of.library._page_cache.clear()
    r = await api("GET", f"models/{CARD_REPO}/page")
    assert r.code == 200, r
    page = r.json
    assert page["hub_error"]["type"] == "NetworkError"
    local = [f for f in page["files"] if f["local"]]
    q8 = next(e for p, e in fake_hub.repo_files(CARD_REPO).items() if "Q8_0" in p)
    assert [(f["path"], f["sha256"]) for f in local] == [(q8.path, q8.sha256)]
    assert page["model"]["status"] == "local"


async def test_unknown_model_page_is_404(api):
    assert_error(await api("GET", "models/nobody/no-such-model/page"), 404, "NotFoundError")


async def test_page_is_a_route_not_a_model_name(api):
    # /models/x/page is the page route of a malformed model "x", never the model "x/page"
    r = await api("DELETE", "models/x/page")
    assert r.code == 404, r
    r = await api("DELETE", f"models/{CARD_REPO}/page")
    assert r.code == 405 and r.headers["Allow"] == "GET", r
