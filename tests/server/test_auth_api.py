"""REST: the Hugging Face login. A token is checked with the (fake) Hub's whoami, saved in the test's
own HF_HOME token file, shown masked and never sent back; a wrong one is refused and not saved;
logout deletes it. Gated downloads fail with a typed GatedError naming the login and the terms page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixtures.hub import TERMS_TOKEN, TEST_TOKEN
from tests.server.conftest import assert_error, poll

GATED = "gated-org/needs-terms"


def token_file() -> Path:
    return Path(os.environ["HF_HOME"]) / "token"


@pytest.fixture(autouse=True)
def _temp_hf_home(studio_env, tmp_path):
    # The conftest's HF_HOME is the test's own temporary folder: never the user's login.
    assert Path(os.environ["HF_HOME"]).is_relative_to(tmp_path)
    assert not token_file().exists()


async def test_login_checks_whoami_stores_the_token_in_hf_home_and_never_returns_it(api, engine_of, fake_hub):
    r = await api("GET", "auth")
    assert r.code == 200 and r.json["logged_in"] is False and r.json["token_masked"] is None
    r = await api("POST", "auth/login", body={"token": TEST_TOKEN})
    assert r.code == 200, r
    assert TEST_TOKEN.encode() not in r.body
    body = r.json
    assert body["user"] == "studio-tester" and body["orgs"] == ["studio-org"] and body["valid"] is True
    assert body["token_masked"] == f"hf_…{TEST_TOKEN[-4:]}" and body["source"] == "file"
    assert body["token_path"] == str(token_file())
    # Stored where huggingface_hub keeps it, readable by its owner only
    assert token_file().read_text() == TEST_TOKEN
    assert token_file().stat().st_mode & 0o077 == 0
    # The whoami request carried it to the Hub
    whoami = [rq for rq in fake_hub.requests if rq.path.startswith("/api/whoami")]
    sent = {k.lower(): v for k, v in whoami[-1].headers.items()} if whoami else {}
    assert sent.get("authorization") == f"Bearer {TEST_TOKEN}"
    # GET /auth checks it again and still shows it masked only
    r = await api("GET", "auth")
    assert r.code == 200 and r.json["user"] == "studio-tester" and TEST_TOKEN.encode() not in r.body
    # Nor do the settings say more than that a token is set
    r = await api("GET", "settings")
    assert TEST_TOKEN.encode() not in r.body
    # The engine's Hub calls now send it
    assert engine_of.hub.headers()["authorization"] == f"Bearer {TEST_TOKEN}"


async def test_a_wrong_token_is_a_typed_400_and_nothing_is_stored(api):
    wrong = "hf_ThisIsNotAValidToken000000000"
    r = await api("POST", "auth/login", body={"token": wrong})
    err = assert_error(r, 400, "ValidationError")
    assert "did not accept" in err["message"] and err["details"]["parameter"] == "token"
    assert wrong.encode() not in r.body
    assert not token_file().exists()
    # Nor a malformed one (not echoed either), nor none
    r = await api("POST", "auth/login", body={"token": "hf_with space" + "x" * 30})
    assert_error(r, 400, "ValidationError")
    assert b"with space" not in r.body
    assert_error(await api("POST", "auth/login", body={}), 400, "ValidationError")
    assert not token_file().exists()


async def test_logout_deletes_the_saved_token(api, engine_of):
    assert (await api("POST", "auth/login", body={"token": TEST_TOKEN})).code == 200
    assert token_file().exists()
    r = await api("POST", "auth/logout")
    assert r.code == 200 and r.json["removed"] is True and r.json["logged_in"] is False
    assert not token_file().exists()
    assert "authorization" not in engine_of.hub.headers()
    r = await api("POST", "auth/logout")  # again: nothing to remove, still fine
    assert r.code == 200 and r.json["removed"] is False


async def test_a_gated_download_fails_with_gated_error_naming_login_and_terms(api, fake_hub):
    fake_hub.add_repo(GATED, {"config.json": b'{"model_type": "llama"}', "weights.bin": b"\1" * 4096},
                      library_name="transformers", gated="manual")
    terms = f"https://huggingface.co/{GATED}"
    # Without a login: log in first (401 from the Hub)
    r = await api("POST", "downloads", body={"model": GATED})
    assert r.code in (200, 202), r
    job = await poll(api, f"downloads/{r.json['id']}", lambda j: j["state"] in ("failed", "completed"))
    assert job["state"] == "failed"
    err = job["error"]
    assert err["type"] == "GatedError" and err["details"]["token_sent"] is False
    assert err["details"]["terms_url"] == terms and err["details"]["status"] == 401
    assert "log in" in err["resolution_steps"][0].lower() and "settings" in err["resolution_steps"][0].lower()
    assert any(terms in step for step in err["resolution_steps"])
    # Logged in, but the terms are not accepted: 403 from the Hub, the terms page first
    assert (await api("POST", "auth/login", body={"token": TEST_TOKEN})).code == 200
    r = await api("POST", f"jobs/{job['id']}/resume")
    assert r.code == 200, r
    job = await poll(api, f"downloads/{job['id']}", lambda j: j["state"] in ("failed", "completed"))
    err = job["error"]
    assert job["state"] == "failed" and err["type"] == "GatedError"
    assert err["details"]["token_sent"] is True and err["details"]["status"] == 403
    assert terms in err["resolution_steps"][0]
    assert TEST_TOKEN not in str(job)
    # With an account that accepted them, the same job completes
    assert (await api("POST", "auth/login", body={"token": TERMS_TOKEN})).code == 200
    assert (await api("POST", f"jobs/{job['id']}/resume")).code == 200
    job = await poll(api, f"downloads/{job['id']}", lambda j: j["state"] in ("failed", "completed"))
    assert job["state"] == "completed", job


@pytest.mark.parametrize("token", ["hf_é" + "x" * 30, "hf_\x00abc" + "x" * 30, "x" * 2000, "   "])
async def test_tokens_that_cannot_be_a_header_are_refused_with_400(api, token):
    r = await api("POST", "auth/login", body={"token": token})
    assert_error(r, 400, "ValidationError")
    assert not token_file().exists()
