"""A model card (README.md) read with huggingface_hub's ``ModelCard``: the Markdown body, and the
metadata of its YAML front matter (licence, languages, base model, datasets, tags) with the
evaluation results of its ``model-index`` (task, dataset, metric, value)."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

MAX_CARD_BYTES = 512 * 1024  # a card longer than this is cut (the page shows the start)
MAX_EVAL_RESULTS = 200


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def empty_metadata() -> dict[str, Any]:
    return {"license": None, "license_name": None, "license_link": None, "language": [], "base_model": [],
            "datasets": [], "tags": [], "pipeline_tag": None, "library_name": None, "model_name": None,
            "eval_results": [], "error": None}


def parse_card(text: str | None, card_data: dict[str, Any] | None = None) -> tuple[str | None, dict[str, Any]]:
    """(Markdown body without the front matter, metadata) of a card's text.

    ``card_data`` (the Hub's parsed ``cardData``) stands in when there is no text. A front matter
    huggingface_hub cannot read leaves the body and names the problem in ``metadata["error"]``.
    """
    from huggingface_hub import ModelCard, ModelCardData

    meta = empty_metadata()
    body = text
    data: Any = None
    if text is not None:
        try:
            card = ModelCard(text, ignore_metadata_errors=True)
            body, data = card.text, card.data
        except Exception as exc:  # a front matter that is not YAML: the text is still worth showing
            meta["error"] = f"The card's metadata could not be read: {exc}"
            log.debug("card metadata", exc_info=True)
    elif card_data:
        try:
            data = ModelCardData(ignore_metadata_errors=True, **card_data)
        except Exception as exc:
            meta["error"] = f"The card's metadata could not be read: {exc}"
    if data is None:
        return body, meta
    meta.update(
        license=getattr(data, "license", None), license_name=getattr(data, "license_name", None),
        license_link=getattr(data, "license_link", None), language=_as_list(getattr(data, "language", None)),
        base_model=_as_list(getattr(data, "base_model", None)), datasets=_as_list(getattr(data, "datasets", None)),
        tags=_as_list(getattr(data, "tags", None)), pipeline_tag=getattr(data, "pipeline_tag", None),
        library_name=getattr(data, "library_name", None), model_name=getattr(data, "model_name", None),
    )
    meta["eval_results"] = [_eval_result(r) for r in (getattr(data, "eval_results", None) or [])][:MAX_EVAL_RESULTS]
    return body, meta


def _eval_result(r: Any) -> dict[str, Any]:
    """One ``huggingface_hub.EvalResult`` as plain JSON."""
    value = r.metric_value
    if not isinstance(value, (int, float, str)) or isinstance(value, bool):
        value = str(value)
    return {
        "task_type": r.task_type, "task_name": r.task_name,
        "dataset_type": r.dataset_type, "dataset_name": r.dataset_name,
        "dataset_config": r.dataset_config, "dataset_split": r.dataset_split,
        "metric_type": r.metric_type, "metric_name": r.metric_name, "metric_value": value,
        "verified": r.verified, "source_name": r.source_name, "source_url": r.source_url,
    }
