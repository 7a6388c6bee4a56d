"""The model page: card and its metadata (model-index evaluation results), files with sha256 and
local flags, revisions, gating and fits, from the fake Hub; the local part with the Hub down."""

from __future__ import annotations

import hashlib

import pytest

from model_studio.config import Settings
from model_studio.core import Engine
from model_studio.errors import NotFoundError
from tests.engine.test_hub_down import closed_port_url
from tests.fixtures.cards import CARD_EVAL_RESULTS, CARD_REPO, GATED_REPO, publish_card_repos
from tests.fixtures.hub import TERMS_TOKEN


@pytest.fixture
def card_repos(fake_hub):
    return publish_card_repos(fake_hub)


def test_page_reads_card_metadata_and_eval_results_from_model_index(engine, card_repos):
    # Given a repo whose README has front matter with a model-index
    # When its page is asked for
    page = engine.library.page(CARD_REPO)
    # Then the card body is there without its front matter, and the metadata is parsed
    assert page["card"].lstrip().startswith("# Tiny Card Model") and "model-index" not in page["card"]
    assert page["card_source"] == "hub"
    meta = page["metadata"]
    assert meta["error"] is None
    assert meta["license"] == "apache-2.0" and page["model"]["license"] == "apache-2.0"
    assert meta["language"] == ["en", "fr"]
    assert meta["base_model"] == ["tiny-org/tiny-llama"]
    assert meta["datasets"] == ["tiny-org/tiny-corpus", "tiny-org/tiny-chat"]
    got = [(r["task_type"], r["dataset_type"], r["metric_type"], r["metric_value"]) for r in meta["eval_results"]]
    assert got == CARD_EVAL_RESULTS
    first = meta["eval_results"][0]
    assert (first["task_name"], first["dataset_name"], first["dataset_split"], first["metric_name"]) == (
        "Text Generation", "Tiny Eval", "test", "Accuracy")
    assert meta["eval_results"][2]["dataset_config"] == "ARC-Challenge"


def test_page_files_have_published_sha256_and_local_flags_follow_a_download(engine, fake_hub, card_repos):
    published = fake_hub.repo_files(CARD_REPO)
    page = engine.library.page(CARD_REPO)
    files = {f["path"]: f for f in page["files"]}
    assert set(files) == set(published)
    for path, entry in published.items():
        assert files[path]["size"] == entry.size
        assert not files[path]["local"]
        if entry.is_lfs:  # the sha256 the page shows is that of the bytes the Hub serves
            assert files[path]["sha256"] == hashlib.sha256(entry.disk_path.read_bytes()).hexdigest()
    q8 = next(p for p in published if "Q8_0" in p)
    # When one quantization is downloaded, the page (its local part read again) says so
    engine.downloads.start(f"{CARD_REPO}:Q8_0").wait(60)
    page = engine.library.page(CARD_REPO)
    files = {f["path"]: f for f in page["files"]}
    assert files[q8]["local"] and not any(f["local"] for p, f in files.items() if p != q8)
    quants = {q["name"]: q for q in page["quantizations"]}
    assert set(quants) == {"F32", "F16", "Q8_0"}
    assert quants["Q8_0"]["local"] and not quants["F16"]["local"]
    for q in quants.values():  # every quantization has a verdict from core/fit
        assert q["fit"]["verdict"] in ("gpu", "partial", "cpu", "no") and q["fit"]["quantization"] == q["name"]
        assert q["fit"]["weights_bytes"] == q["size"] == sum(published[f].size for f in q["files"])
    assert page["capabilities"]["chat"] and not page["capabilities"]["fine_tune"]
    assert not page["capabilities"]["video"] and page["capabilities"]["verify"]
    assert [b["name"] for b in page["backends"]] == ["llama-cpp"]


def test_page_revisions_branches_tags_and_commits(engine, fake_hub, card_repos):
    page = engine.library.page(CARD_REPO)
    rev = page["revisions"]
    head = card_repos[CARD_REPO]
    assert rev["current"] == head
    assert rev["branches"] == [{"name": "main", "commit": head}]
    first = fake_hub.commit_chain(CARD_REPO)[-1]["sha"]
    assert rev["tags"] == [{"name": "v1.0", "commit": first}]
    assert [c["id"] for c in rev["commits"]] == [head, first]
    assert [c["title"] for c in rev["commits"]] == ["Add every quantization", "First tiny card"]


def test_gated_repo_page_says_gated_without_access_and_links_the_terms(engine, fake_hub, card_repos):
    page = engine.library.page(GATED_REPO)
    assert page["gating"] == {"gated": "manual", "access": False,
                              "terms_url": f"https://huggingface.co/{GATED_REPO}"}
    assert page["card"].lstrip().startswith("# Tiny Gated")  # the card is public, as on the Hub
    assert page["metadata"]["license"] == "other" and page["model"]["gated"] is True
    # with a token, the Hub grants access
    with Engine(Settings(home=str(engine.settings.home_path), hf_cache=str(engine.settings.cache_path),
                         hf_endpoint=fake_hub.url, hf_token=TERMS_TOKEN)) as other:
        assert other.library.page(GATED_REPO)["gating"]["access"] is True
    ungated = engine.library.page(CARD_REPO)["gating"]
    assert ungated == {"gated": False, "access": True, "terms_url": None}


def test_hub_down_keeps_the_local_part_with_hub_error(engine, fake_hub, card_repos):
    q8 = next(p for p in fake_hub.repo_files(CARD_REPO) if "Q8_0" in p)
    engine.downloads.start(CARD_REPO, files=[q8, "README.md"]).wait(60)
    s = engine.settings
    down = Settings(home=str(s.home_path), hf_cache=str(s.cache_path), hf_endpoint=closed_port_url(),
                    hub_connect_timeout=0.5)
    with Engine(down) as eng:
        page = eng.library.page(CARD_REPO)
    assert page["hub_error"]["type"] == "NetworkError"
    # the README was downloaded with the weights: the card and its metadata come from disk
    assert page["card_source"] == "local" and page["card"].lstrip().startswith("# Tiny Card Model")
    assert len(page["metadata"]["eval_results"]) == len(CARD_EVAL_RESULTS)
    files = {f["path"]: f for f in page["files"]}
    published = fake_hub.repo_files(CARD_REPO)[q8]
    assert files[q8]["local"] and files[q8]["sha256"] == published.sha256  # from the cache's blob name
    assert page["revisions"]["commits"] == [] and page["revisions"]["current"] == card_repos[CARD_REPO]
    assert [q["name"] for q in page["quantizations"]] == ["Q8_0"] and page["quantizations"][0]["fit"]


def test_unknown_model_is_not_found(engine, fake_hub):
    with pytest.raises(NotFoundError):
        engine.library.page("nobody/no-such-model")


def test_hub_part_is_cached(engine, fake_hub, card_repos):
    engine.library.page(CARD_REPO)
    fake_hub.clear_requests()
    engine.library.page(CARD_REPO)
    assert [r.path for r in fake_hub.requests] == []


def test_catalog_model_missing_from_the_hub_still_has_a_page(engine, fake_hub):
    # The fake Hub does not hold the catalog's models: the page shows the catalog's facts
    page = engine.library.page("Qwen/Qwen2.5-0.5B-Instruct-GGUF")
    assert page["hub_error"]["type"] == "NotFoundError"
    assert "catalog" in page["model"]["sources"] and page["model"]["license"]
    assert {q["name"] for q in page["quantizations"]} >= {"Q4_K_M"}
    assert all(q["fit"] or q["fit_error"] for q in page["quantizations"])
