"""``ModelPage``: one model's page (card, evaluation results, files, revisions, fits) in a notebook."""

from __future__ import annotations

from typing import Any

import traitlets

from ..core.refs import ModelRef
from ..errors import StudioError
from ._base import StudioWidget


class ModelPage(StudioWidget):
    """The page of ``model``: its rendered card, the card's metadata and evaluation results, files
    with sha256 and what is local, revisions, licence and gating, quantizations with a fit
    verdict, and Download / Verify / Delete / Copy as code. The same ``library.page`` operation as
    ``GET /models/{model}/page`` and ``ms.engine().library.page(model)``.

    ``ModelPage("org/name")`` or ``ModelPage("org/name", variant="Q4_K_M")``; both are synced:
    set them to show another model.
    """

    _bundle = "model.js"

    #: The model id (``org/name``; ``org/name:QUANT`` sets ``variant`` too).
    model = traitlets.Unicode("").tag(sync=True)
    #: The quantization the page's Download and Copy as code use (empty: the default).
    variant = traitlets.Unicode("").tag(sync=True)

    def __init__(self, model: str = "", **kwargs: Any) -> None:
        super().__init__(model=model, **kwargs)

    @traitlets.validate("model")
    def _check_model(self, proposal: Any) -> str:
        value = proposal["value"]
        if not value:
            return value
        try:
            ref = ModelRef.coerce(value)
        except StudioError as exc:
            raise traitlets.TraitError(exc.message) from exc
        if ref.variant and not self.variant:
            self.variant = ref.variant
        return ref.repo_id

    def _summary(self) -> str:
        return f"model={self.model!r}" + (f", variant={self.variant!r}" if self.variant else "")
