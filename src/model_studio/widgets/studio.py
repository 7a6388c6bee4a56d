"""``Studio``: every widget of the studio in one tabbed dashboard (what ``%studio`` shows)."""

from __future__ import annotations

from typing import Any

import traitlets

from ._base import StudioWidget

#: The dashboard's tabs, in order.
TABS = ("library", "downloads", "chat", "training", "video", "running", "system", "jobs", "settings")


class Studio(StudioWidget):
    """The whole studio in tabs: library, downloads, chat, training, video, running (loaded models) and system.

    ``tab`` is the open tab (synced: set it to switch, read it to see where the user is). The
    dashboard receives both ``job`` events and ``system`` events every ``interval`` seconds.
    """

    _bundle = "studio.js"
    _system_events = True

    #: The open tab: one of ``TABS``.
    tab = traitlets.Unicode("library").tag(sync=True)
    #: The tabs this kernel offers, in order (read-only for the front end).
    tabs = traitlets.List(traitlets.Unicode(), default_value=list(TABS)).tag(sync=True)

    @traitlets.validate("tab")
    def _check_tab(self, proposal: Any) -> str:
        if proposal["value"] not in TABS:
            raise traitlets.TraitError(f"tab must be one of {', '.join(TABS)}, got {proposal['value']!r}")
        return proposal["value"]

    def _summary(self) -> str:
        return f"tab={self.tab!r}"
