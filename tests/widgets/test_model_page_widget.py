"""``ms.ModelPage("org/name")``: its traits, and the page served through the widget's call protocol."""

from __future__ import annotations

import pytest
import traitlets

import model_studio
from tests.fixtures.cards import CARD_EVAL_RESULTS, CARD_REPO, publish_card_repos
from tests.widgets.test_widgets import call, make_widget  # noqa: F401 (a fixture)


def test_model_page_widget_takes_a_model_and_a_variant(make_widget):  # noqa: F811
    from model_studio.widgets import ModelPage

    assert model_studio.ModelPage is ModelPage  # the lazy export
    page = make_widget(ModelPage, model=f"{CARD_REPO}:Q8_0")
    assert (page.model, page.variant) == (CARD_REPO, "Q8_0")
    assert page.trait_metadata("model", "sync") and page.trait_metadata("variant", "sync")
    assert make_widget(ModelPage, model=CARD_REPO, variant="F16").variant == "F16"
    with pytest.raises(traitlets.TraitError):
        page.model = "../etc/passwd"


def test_model_page_widget_serves_the_page_and_verify(make_widget, fake_hub, studio_engine):  # noqa: F811
    from model_studio.widgets import ModelPage

    publish_card_repos(fake_hub)
    page = make_widget(ModelPage, model=CARD_REPO)
    reply = call(page, "p1", "library.page", {"model": CARD_REPO})
    assert reply["kind"] == "result", reply
    results = reply["result"]["metadata"]["eval_results"]
    assert [(r["task_type"], r["dataset_type"], r["metric_type"], r["metric_value"]) for r in results] == \
        CARD_EVAL_RESULTS
    studio_engine.downloads.start(f"{CARD_REPO}:Q8_0").wait(60)
    reply = call(page, "v1", "library.verify", {"model": CARD_REPO})
    assert reply["kind"] == "result" and reply["result"]["ok"] is True, reply
